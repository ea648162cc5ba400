"""The console's signing key and every grant on it, in one place.

A Secrets Manager secret (CloudFormation generates its value) signs console session tokens.
The console authorizer reads it; the admin function reads it (to mint portal links and open
sessions) and writes it (POST /portal/key/rotate: a fresh value revokes every link and session).
Nothing else may touch it.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.context import StackSettings
from infra.pipeline import acknowledge
from litestore_webhooks import resources as r

AUTHORIZER_KEY_ACTIONS = ["secretsmanager:GetSecretValue"]
ADMIN_KEY_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]


class ConsoleKey(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        admin: lambda_.Function,
        authorizer: lambda_.Function,
    ) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=r.console_key_secret_name(settings.prefix),
            description="Signs console session tokens (portal links); a new value revokes every session",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=RemovalPolicy.DESTROY,  # a new key only signs users out
        )
        acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "rotation revokes every console session, so it is the operator's call: POST /portal/key/rotate",
        )
        for fn, key_actions in ((authorizer, AUTHORIZER_KEY_ACTIONS), (admin, ADMIN_KEY_ACTIONS)):
            fn.add_environment(r.CONSOLE_KEY_ENV, self.secret.secret_arn)
            fn.add_to_role_policy(iam.PolicyStatement(actions=key_actions, resources=[self.secret.secret_arn]))
