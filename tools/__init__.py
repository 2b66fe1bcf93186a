"""Local tools: a stand-in for SuperOffice and the whole flow on loopback."""
