"""Static egress IPs (context `staticEgressIps`): the delivery function in a VPC of its own whose
NAT gateways have Elastic IPs, so receivers can allowlist where deliveries come from.

The VPC holds nothing but the NAT gateways and the delivery function's network interfaces: no
VPC endpoints, no peering, no transit gateway or VPN, no other function. The delivery
function's own SSRF rules (core/urls.py, core/sender.py) still refuse private, link-local and
loopback addresses; this VPC adds nothing to reach at such an address (tests/test_stack.py
asserts it in the template). Costs are in docs/deploy.md ("Static egress IPs").
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnOutput, Fn, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

# What Lambda needs to attach a function to a VPC: the actions of the AWS managed policy
# AWSLambdaVPCAccessExecutionRole, granted inline (function roles carry no managed policies).
# Lambda calls them with the function's role when it creates and removes the function's network
# interfaces; none takes a resource-level permission that Lambda's own calls could be scoped to.
VPC_ACCESS_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]
EGRESS_CIDR = "10.64.0.0/16"


class StaticEgress(Construct):
    """A VPC with one public subnet (NAT gateway + Elastic IP) and one private subnet per zone."""

    def __init__(self, scope: Construct, construct_id: str, *, zones: int) -> None:
        super().__init__(scope, construct_id)
        self.ips = [ec2.CfnEIP(self, f"EgressIp{n + 1}", domain="vpc") for n in range(zones)]
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(EGRESS_CIDR),
            max_azs=zones,
            nat_gateways=zones,
            nat_gateway_provider=ec2.NatProvider.gateway(eip_allocation_ids=[ip.attr_allocation_id for ip in self.ips]),
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Nat", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24, map_public_ip_on_launch=False
                ),
                ec2.SubnetConfiguration(name="Delivery", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24),
            ],
            # The default security group is attached to nothing; CDK's rule-stripping custom
            # resource would add a function and a role to the stack for it.
            restrict_default_security_group=False,
        )
        Validations.of(self.vpc).acknowledge(
            Acknowledgment(
                id="AwsSolutions-VPC7",
                reason="every delivery's destination, status and timing is in the attempt log; flow logs would add a "
                "per-GB cost to the NAT's for the same facts",
            )
        )
        # Outbound TCP only, to the internet (receivers and the AWS APIs through the NAT
        # gateways); nothing may connect in. DNS to the VPC resolver is not filtered by groups.
        self.security_group = ec2.SecurityGroup(
            self,
            "DeliveryGroup",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="litestore-webhooks delivery: outbound TCP to the internet only, nothing inbound",
        )
        self.security_group.add_egress_rule(
            ec2.Peer.ipv4("0.0.0.0/0"),
            ec2.Port.tcp_range(1, 65535),
            "receivers on any port, AWS APIs on 443, via the NAT gateways",
        )

    @property
    def subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)

    def grant_network_interfaces(self, role: iam.Role) -> None:
        role.add_to_principal_policy(iam.PolicyStatement(actions=VPC_ACCESS_ACTIONS, resources=["*"]))

    def outputs(self, scope: Construct) -> None:
        CfnOutput(
            scope,
            "EgressIps",
            value=Fn.join(",", [ip.ref for ip in self.ips]),
            description="Elastic IPs every delivery comes from (comma-separated): give them to receivers to allowlist",
        )
