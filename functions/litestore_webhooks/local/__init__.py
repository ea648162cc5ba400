"""Local runtime: the whole system on one machine, no AWS account and no Docker.

moto's server stands in for AWS, `apigw` turns HTTP requests into API Gateway proxy
events, and `poller` plays Lambda's SQS event source mappings; all of them call the very
same handlers that run in Lambda.
"""
