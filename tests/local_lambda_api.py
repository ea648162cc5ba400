"""Lambda's event-source-mapping API, served to a real botocore client from the local runtime's
registry, so the deployed adapter (aws/event_sources.LambdaEventSources) runs unchanged while the
local poller keeps delivering.

moto has the API but no poller that would call our handler (it would need Docker), and the
local runtime's poller reads `LocalEventSources`; this joins the two. A `before-call` handler
answers the five operations the adapter makes, in Lambda's response shapes and error codes,
before anything is sent; every other Lambda call goes on to moto as usual.
"""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSResponse

from litestore_webhooks.aws.event_sources import LocalEventSources, Mapping
from litestore_webhooks.local.invoke import acting_as


class LambdaApiOverRegistry:
    def __init__(self, registry: LocalEventSources, function_arn: Any) -> None:
        self.registry = registry
        self.function_arn = function_arn  # function name -> ARN, as Lambda reports FunctionArn

    def attach(self, client: Any) -> None:
        for operation in (
            "CreateEventSourceMapping",
            "UpdateEventSourceMapping",
            "DeleteEventSourceMapping",
            "GetEventSourceMapping",
            "ListEventSourceMappings",
        ):
            client.meta.events.register(f"before-parameter-build.lambda.{operation}", self._keep_params)
            client.meta.events.register(f"before-call.lambda.{operation}", self._answer(getattr(self, f"_{operation}")))

    @staticmethod
    def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["api_params"] = dict(params)  # before-call sees only the serialized request

    @staticmethod
    def _answer(operation: Any) -> Any:
        def answer(context: dict[str, Any], **_: Any) -> Any:
            return operation(context["api_params"])

        return answer

    def function_of(self, uuid: str) -> str | None:
        """The ARN of the function a mapping invokes (IAM's lambda:FunctionArn), None if there is no mapping."""
        found = self.registry.get(uuid)
        return self.function_arn(found["function"]) if found else None

    # -- answers ----------------------------------------------------------------------------
    def _describe(self, m: Mapping | dict[str, Any]) -> dict[str, Any]:
        d = m if isinstance(m, dict) else self.registry.get(m.id)
        assert d is not None
        return {
            "UUID": d["id"],
            "EventSourceArn": d["queue_arn"],
            "FunctionArn": self.function_arn(d["function"]),
            "BatchSize": d["batch_size"],
            "MaximumBatchingWindowInSeconds": d["max_batching_window_s"],
            "ScalingConfig": {"MaximumConcurrency": d["max_concurrency"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "State": "Enabled" if d["enabled"] else "Disabled",
        }

    @staticmethod
    def _ok(status: int, parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://lambda.local", status, {}, None), {
            **parsed,
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    @staticmethod
    def _not_found(uuid: str) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://lambda.local", 404, {}, None), {
            "Error": {
                "Code": "ResourceNotFoundException",
                "Message": f"The resource you requested does not exist. ({uuid})",
            },
            "ResponseMetadata": {"HTTPStatusCode": 404},
        }

    def _CreateEventSourceMapping(self, params: dict[str, Any]) -> Any:
        with acting_as(None):  # the registry's own queue lookup is Lambda's business, not the caller's
            uuid = self.registry.create(
                params["EventSourceArn"],
                params["FunctionName"],
                batch_size=params.get("BatchSize", 10),
                max_batching_window_s=params.get("MaximumBatchingWindowInSeconds", 0),
                max_concurrency=params.get("ScalingConfig", {}).get("MaximumConcurrency", 1000),
                enabled=params.get("Enabled", True),
            )
        return self._ok(202, self._describe(self.registry.get(uuid)))

    def _UpdateEventSourceMapping(self, params: dict[str, Any]) -> Any:
        uuid = params["UUID"]
        if self.registry.get(uuid) is None:
            return self._not_found(uuid)
        self.registry.update(
            uuid,
            enabled=params.get("Enabled"),
            batch_size=params.get("BatchSize"),
            max_concurrency=params.get("ScalingConfig", {}).get("MaximumConcurrency"),
        )
        return self._ok(202, self._describe(self.registry.get(uuid)))

    def _DeleteEventSourceMapping(self, params: dict[str, Any]) -> Any:
        found = self.registry.get(params["UUID"])
        if found is None:
            return self._not_found(params["UUID"])
        self.registry.delete(params["UUID"])
        return self._ok(202, {**self._describe(found), "State": "Deleting"})

    def _GetEventSourceMapping(self, params: dict[str, Any]) -> Any:
        found = self.registry.get(params["UUID"])
        return self._ok(200, self._describe(found)) if found else self._not_found(params["UUID"])

    def _ListEventSourceMappings(self, params: dict[str, Any]) -> Any:
        queue, function = params.get("EventSourceArn"), params.get("FunctionName")
        found = [
            self._describe(m)
            for m in self.registry.mappings()
            if (queue is None or m.queue_arn == queue)
            and (function is None or self.function_arn(m.function) == self.function_arn(function))
        ]
        return self._ok(200, {"EventSourceMappings": found})
