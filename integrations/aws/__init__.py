"""AWS IAM through boto3: access keys and deny-all policies."""
