"""The EC2 Query API (``/ec2`` on kumo serve): what euca2ools, boto3 and the AWS CLI speak.

    sigv4       AWS Signature Version 4 verification (the server side: kumo's own)
    replay      signatures already accepted, refused a second time
    query       the form-encoded parameters (Filter.1.Value.2, ...) read and checked
    xml         responses and errors in Amazon's shapes and namespace
    errors      Amazon's error codes, and kumo's errors translated to them
    ids         EC2 ids (i-, ami-, aki-, ari-) mapped from kumo's uuids, stably
    actions/    the actions, over the service layer the CLI and the OpenStack API use
"""
