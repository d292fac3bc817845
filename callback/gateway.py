"""The engine's way to send an Originate: the process-wide AMI pool, over each node's warm link."""

from django.conf import settings

from callback.ami import OriginateRequest, get_default_pool
from callback.models import AsteriskNode


class AmiPoolGateway:
    def originate(self, node: AsteriskNode, request: OriginateRequest) -> None:
        get_default_pool().originate(
            f"node-{node.pk}",
            node.host,
            node.port,
            node.username,
            node.secret,
            request,
            timeout=settings.AMI_ACTION_TIMEOUT_SECONDS,
        )


def ami_gateway() -> AmiPoolGateway:
    return AmiPoolGateway()
