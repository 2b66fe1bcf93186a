"""CDK constructs and stacks: one construct per concern, composed by one stack per environment."""
