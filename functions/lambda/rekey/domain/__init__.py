"""The pure core: models, policy and the lifecycle decision. No boto3, no clock, no environment."""
