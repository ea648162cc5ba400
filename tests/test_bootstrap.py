from litestore_webhooks import resources as r
from litestore_webhooks.aws import clients


def test_tables_and_topic_match_the_shared_definition(aws):
    ddb = clients.client("dynamodb")
    for table in r.TABLES:
        desc = ddb.describe_table(TableName=table.name())["Table"]
        keys = {k["KeyType"]: k["AttributeName"] for k in desc["KeySchema"]}
        assert keys["HASH"] == table.partition_key
        assert keys.get("RANGE") == table.sort_key
        assert {ix["IndexName"] for ix in desc.get("GlobalSecondaryIndexes", [])} == {ix.name for ix in table.indexes}
        ttl = ddb.describe_time_to_live(TableName=table.name())["TimeToLiveDescription"]
        if table.ttl_attribute:
            assert ttl["AttributeName"] == table.ttl_attribute and ttl["TimeToLiveStatus"] == "ENABLED"
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"
    assert aws.topic_arn.endswith(":" + r.topic_name())


def test_bootstrap_is_idempotent(aws):
    from litestore_webhooks.aws import bootstrap

    env = bootstrap.create_stack_resources()
    assert env["LSW_TOPIC_ARN"] == aws.topic_arn
