"""Recording mocks: realistic outputs for every resource and invoke the program uses."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.sync_await import _ensure_event_loop

ACCOUNT = "123456789012"


def _hex(*parts: str, n: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


#: Type token -> id prefix, for ids shaped like AWS's.
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc-",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-",
}


def mock_id(type_: str, name: str) -> str:
    """The id the mocks give resource `name` of `type_` (deterministic, shaped like AWS's)."""
    h = _hex(type_, name)
    if type_ == "aws:apigateway/restApi:RestApi":
        return h[:10]
    return _ID_PREFIX[type_] + h if type_ in _ID_PREFIX else f"{name}-{h[:8]}"


def mock_name(type_: str, name: str) -> str:
    """The physical name the mocks auto-name resource `name` of `type_` with (like Pulumi's)."""
    return f"{name}-{_hex(type_, name)[:7]}"


class RecordingMocks(pulumi.runtime.Mocks):
    """Returns inputs plus the outputs AWS would compute, so every `apply` runs."""

    def __init__(self, region: str) -> None:
        self.region = region

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        handler = _INVOKES.get(args.token)
        if handler is None:
            raise NotImplementedError(f"plan mocks: invoke {args.token} is not mocked; add it")
        return handler(self.region), []

    def new_resource(  # noqa: PLR0912 - one branch per type whose outputs the program reads
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str, dict[str, Any]]:
        t, name, inputs, r = args.typ, args.name, dict(args.inputs), self.region
        h = _hex(t, name)
        rid = mock_id(t, name)
        physical = inputs.get("name") or mock_name(t, name)
        out: dict[str, Any] = {**inputs}
        service = t.split(":")[1].split("/")[0]
        out.setdefault("arn", f"arn:aws:{service}:{r}:{ACCOUNT}:{physical}")
        if t == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{r}:{ACCOUNT}:function:{physical}"
            out.update(
                name=physical,
                arn=arn,
                version="1",
                qualifiedArn=f"{arn}:1",
                invokeArn=_invoke_arn(r, arn),
            )
        elif t == "aws:lambda/alias:Alias":
            arn = f"arn:aws:lambda:{r}:{ACCOUNT}:function:{inputs['functionName']}:{inputs['name']}"
            out.update(arn=arn, invokeArn=_invoke_arn(r, arn))
        elif t == "aws:apigateway/restApi:RestApi":
            out.update(
                rootResourceId=_hex(rid, n=10),
                executionArn=f"arn:aws:execute-api:{r}:{ACCOUNT}:{rid}",
                arn=f"arn:aws:apigateway:{r}::/restapis/{rid}",
            )
        elif t == "aws:apigateway/stage:Stage":
            api = inputs["restApi"]
            out["invokeUrl"] = f"https://{api}.execute-api.{r}.amazonaws.com/{inputs['stageName']}"
        elif t == "aws:lb/loadBalancer:LoadBalancer":
            out.update(
                arn=f"arn:aws:elasticloadbalancing:{r}:{ACCOUNT}:loadbalancer/app/{physical}/{h[:16]}",
                dnsName=f"{physical}-{h[:10]}.{r}.elb.amazonaws.com",
                arnSuffix=f"app/{physical}/{h[:16]}",
            )
        elif t == "aws:rds/instance:Instance":
            address = f"{physical}.{h[:12]}.{r}.rds.amazonaws.com"
            out.update(
                address=address,
                port=5432,
                endpoint=f"{address}:5432",
                masterUserSecrets=[
                    {
                        "secretArn": (
                            f"arn:aws:secretsmanager:{r}:{ACCOUNT}:secret:rds!db-{h[:8]}-AbCdEf"
                        ),
                        "secretStatus": "active",
                        "kmsKeyId": f"arn:aws:kms:{r}:{ACCOUNT}:key/{h[:8]}",
                    }
                ],
            )
        elif t == "aws:ecr/repository:Repository":
            out.update(
                name=physical,
                registryId=ACCOUNT,
                repositoryUrl=f"{ACCOUNT}.dkr.ecr.{r}.amazonaws.com/{physical}",
                arn=f"arn:aws:ecr:{r}:{ACCOUNT}:repository/{physical}",
            )
        elif t == "docker:index/image:Image":
            repo = str(inputs.get("imageName", name)).rsplit(":", 1)[0]
            out.update(repoDigest=f"{repo}@sha256:{_hex(t, name, n=64)}")
        elif t == "aws:cloudwatch/logGroup:LogGroup":
            out["arn"] = f"arn:aws:logs:{r}:{ACCOUNT}:log-group:{physical}"
        elif t == "aws:cloudwatch/eventRule:EventRule":
            out.update(name=physical, arn=f"arn:aws:events:{r}:{ACCOUNT}:rule/{physical}")
        elif t == "aws:sqs/queue:Queue":
            out.update(
                name=physical,
                arn=f"arn:aws:sqs:{r}:{ACCOUNT}:{physical}",
                url=f"https://sqs.{r}.amazonaws.com/{ACCOUNT}/{physical}",
            )
        elif t == "aws:iam/role:Role":
            out.update(name=physical, arn=f"arn:aws:iam::{ACCOUNT}:role/{physical}")
        elif t == "aws:ecs/cluster:Cluster":
            out.update(name=physical, arn=f"arn:aws:ecs:{r}:{ACCOUNT}:cluster/{physical}")
        elif t == "aws:ecs/service:Service":
            out["name"] = physical
        elif t == "aws:ecs/taskDefinition:TaskDefinition":
            out["arn"] = f"arn:aws:ecs:{r}:{ACCOUNT}:task-definition/{inputs.get('family')}:1"
        elif t == "aws:rds/subnetGroup:SubnetGroup":
            out["name"] = physical
        return rid, out


def _region(r: str) -> dict[str, Any]:
    return {"id": r, "name": r, "region": r, "endpoint": f"ec2.{r}.amazonaws.com"}


def _caller_identity(_: str) -> dict[str, Any]:
    return {
        "id": ACCOUNT,
        "accountId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/plan",
        "userId": "AIDAPLAN",
    }


def _availability_zones(r: str) -> dict[str, Any]:
    return {
        "id": r,
        "names": [f"{r}{z}" for z in "abc"],
        "zoneIds": [f"az{i}" for i in (1, 2, 3)],
    }


def _ecr_authorization_token(r: str) -> dict[str, Any]:
    return {
        "id": r,
        "userName": "AWS",
        "password": "mock-ecr-password",
        "authorizationToken": "QVdTOm1vY2s=",
        "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{r}.amazonaws.com",
        "expiresAt": "2030-01-01T00:00:00Z",
    }


#: Every invoke the program makes (an unmocked invoke would return empty fields silently).
_INVOKES: dict[str, Callable[[str], dict[str, Any]]] = {
    "aws:index/getRegion:getRegion": _region,
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": _ecr_authorization_token,
}


def _invoke_arn(region: str, arn: str) -> str:
    return f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"


@dataclass
class Registration:
    """One RegisterResource call as the engine received it."""

    type: str
    name: str
    urn: str
    parent_urn: str
    custom: bool
    protect: bool
    dependencies: list[str]
    ignore_changes: list[str]
    inputs: dict[str, Any]


class RecordingMonitor(MockMonitor):
    """A MockMonitor that also keeps every registration (with parent and options)."""

    def __init__(self, mocks: RecordingMocks | None = None) -> None:
        super().__init__(mocks or RecordingMocks(region="us-east-1"))
        self.registrations: list[Registration] = []
        self.outputs: dict[str, dict[str, Any]] = {}
        """Outputs components registered, by URN."""
        self.exports: dict[str, Any] = {}
        """The stack's exports (pulumi.export), resolved."""
        self._lock = threading.Lock()

    def RegisterResourceOutputs(self, request: Any) -> Any:
        _ensure_event_loop()
        outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        with self._lock:
            self.outputs[request.urn] = outputs
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            _ensure_event_loop()
            inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
            with self._lock:
                self.registrations.append(
                    Registration(
                        type=request.type,
                        name=request.name,
                        urn=response.urn,
                        parent_urn=request.parent,
                        custom=request.custom,
                        protect=bool(request.protect),
                        dependencies=list(request.dependencies),
                        ignore_changes=list(request.ignoreChanges),
                        inputs=inputs,
                    )
                )
        return response
