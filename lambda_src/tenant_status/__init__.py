"""Runtime code for receiving SuperOffice tenant status notifications.

Shared by the receiver and outbox publisher functions, the local stack and the
tests. Nothing here imports the CDK.
"""
