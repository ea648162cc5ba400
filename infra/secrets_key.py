"""The KMS key that seals endpoint signing secrets (functions/litestore_webhooks/aws/kms.py).

Least privilege in the key policy itself, not only in IAM: the account (and so the deploying
CloudFormation role) may administer the key but not use it, and only the roles granted here
may call the two cryptographic operations the code makes, each only with an encryption context
naming an endpoint. Each grant goes into the key policy and the role's own policy alike, so
the IAM statements show every call a function makes. Rotation of the key material is on
(yearly; old material keeps decrypting).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from litestore_webhooks import resources as r

# What the account may do with the key: manage it, never encrypt or decrypt with it, nor create
# grants that would let someone else. (CDK's admin list without kms:Create*: only CreateAlias.)
ADMIN_ACTIONS = [
    "kms:CreateAlias",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]
SEAL_ACTIONS = ["kms:GenerateDataKey", "kms:Decrypt"]  # the admin function: create, rotate, show
OPEN_ACTIONS = ["kms:Decrypt"]  # the delivery function (and the admin's test sends)


class SecretsKey(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, retain: bool) -> None:
        super().__init__(scope, construct_id)
        account = iam.AccountRootPrincipal()
        self.key = kms.Key(
            self,
            "Key",
            description=f"{prefix}: seals endpoint signing secrets (envelope encryption)",
            enable_key_rotation=True,
            alias=r.secrets_key_alias(prefix),
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            policy=iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="AdministerNotUse",
                        principals=[account],
                        actions=ADMIN_ACTIONS,
                        resources=["*"],
                    )
                ]
            ),
        )
        self.key_arn = self.key.key_arn

    def grant(self, role: iam.Role, actions: list[str]) -> None:
        """Let `role` call `actions` on this key, only for an endpoint's data keys."""
        condition = {"StringLike": {f"kms:EncryptionContext:{r.SECRETS_CONTEXT_KEY}": f"{r.ENDPOINT_ID_PREFIX}*"}}
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ArnPrincipal(role.role_arn)],
                actions=actions,
                resources=["*"],
                conditions=condition,
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=actions,
                resources=[self.key_arn],
                conditions=condition,
            )
        )
