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

#: Route 53 hosted zone ids of the regional API Gateway endpoints and of Application Load
#: Balancers, per region, as AWS lists them (https://docs.aws.amazon.com/general/latest/gr/apigateway.html,
#: https://docs.aws.amazon.com/general/latest/gr/elb.html). Alias records point at these.
APIGW_ZONES = {"eu-west-1": "ZLY8HYME6SFDD", "us-east-1": "Z1UJRXOUMOOFQ8"}
ALB_ZONES = {"eu-west-1": "Z32O12XQLNTSW2", "us-east-1": "Z35SXDOTRQ7X7K"}


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
        self.earlier_names: dict[tuple[str, str], str] = {}
        """(type, name) -> the name of the resource it aliases: Pulumi keeps that resource,
        and with it the id and physical name it was created with, so the mocks make them from
        the earlier name (RecordingMonitor fills this before each registration)."""

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        handler = _INVOKES.get(args.token)
        if handler is None:
            raise NotImplementedError(f"plan mocks: invoke {args.token} is not mocked; add it")
        return handler(self.region), []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        t, inputs, r = args.typ, dict(args.inputs), self.region
        name = self.earlier_names.get((t, args.name), args.name)
        ctx = _Resource(
            type=t,
            name=name,
            inputs=inputs,
            region=r,
            h=_hex(t, name),
            rid=mock_id(t, name),
            physical=str(inputs.get("name") or mock_name(t, name)),
        )
        service = t.split(":")[1].split("/")[0]
        out: dict[str, Any] = {**inputs}
        out.setdefault("arn", f"arn:aws:{service}:{r}:{ACCOUNT}:{ctx.physical}")
        outputs = _OUTPUTS.get(t)
        if outputs is not None:
            out.update(outputs(ctx))
        return ctx.rid, out


@dataclass(frozen=True)
class _Resource:
    """What an output function knows of the resource being registered."""

    type: str
    name: str
    inputs: dict[str, Any]
    region: str
    h: str
    """A hash of type and name, for ids and suffixes."""
    rid: str
    physical: str
    """The physical name: the `name` input, or an auto-name like Pulumi's."""

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        """arn:aws:<service>:<region>:<account>:<resource> (AWS's general ARN format)."""
        return f"arn:aws:{service}:{self.region if region else ''}:{ACCOUNT}:{resource}"


def _function(c: _Resource) -> dict[str, Any]:
    arn = c.arn("lambda", f"function:{c.physical}")
    return {
        "name": c.physical,
        "arn": arn,
        "version": "1",
        "qualifiedArn": f"{arn}:1",
        "invokeArn": _invoke_arn(c.region, arn),
    }


def _alias(c: _Resource) -> dict[str, Any]:
    arn = c.arn("lambda", f"function:{c.inputs['functionName']}:{c.inputs['name']}")
    return {"arn": arn, "invokeArn": _invoke_arn(c.region, arn)}


def _rest_api(c: _Resource) -> dict[str, Any]:
    return {
        "name": c.physical,
        "rootResourceId": _hex(c.rid, n=10),
        "executionArn": c.arn("execute-api", c.rid),
        "arn": f"arn:aws:apigateway:{c.region}::/restapis/{c.rid}",
    }


def _stage(c: _Resource) -> dict[str, Any]:
    api, stage = c.inputs["restApi"], c.inputs["stageName"]
    return {"invokeUrl": f"https://{api}.execute-api.{c.region}.amazonaws.com/{stage}"}


def _load_balancer(c: _Resource) -> dict[str, Any]:
    suffix = f"app/{c.physical}/{c.h[:16]}"
    return {
        "arn": c.arn("elasticloadbalancing", f"loadbalancer/{suffix}"),
        "dnsName": f"{c.physical}-{c.h[:10]}.{c.region}.elb.amazonaws.com",
        "arnSuffix": suffix,
        "zoneId": ALB_ZONES.get(c.region, "ZALBREGIONAL"),
    }


def _target_group(c: _Resource) -> dict[str, Any]:
    # Target group names are at most 32 characters; the ARN ends targetgroup/<name>/<16 hex>
    # (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html).
    suffix = f"targetgroup/{c.physical[:32].rstrip('-')}/{c.h[:16]}"
    return {"arn": c.arn("elasticloadbalancing", suffix), "arnSuffix": suffix}


def _db_instance(c: _Resource) -> dict[str, Any]:
    address = f"{c.physical}.{c.h[:12]}.{c.region}.rds.amazonaws.com"
    return {
        "identifier": c.physical,
        "address": address,
        "port": 5432,
        "endpoint": f"{address}:5432",
        "masterUserSecrets": [
            {
                "secretArn": c.arn("secretsmanager", f"secret:rds!db-{c.h[:8]}-AbCdEf"),
                "secretStatus": "active",
                "kmsKeyId": c.arn("kms", f"key/{_uuid(c.h)}"),
            }
        ],
    }


def _repository(c: _Resource) -> dict[str, Any]:
    return {
        "name": c.physical,
        "registryId": ACCOUNT,
        "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{c.region}.amazonaws.com/{c.physical}",
        "arn": c.arn("ecr", f"repository/{c.physical}"),
    }


def _image(c: _Resource) -> dict[str, Any]:
    repo = str(c.inputs.get("imageName", c.name)).rsplit(":", 1)[0]
    return {"repoDigest": f"{repo}@sha256:{_hex(c.type, c.name, n=64)}"}


def _certificate(c: _Resource) -> dict[str, Any]:
    domain = c.inputs["domainName"]
    return {
        "arn": c.arn("acm", f"certificate/{_uuid(c.h)}"),
        "domainValidationOptions": [
            {
                "domainName": domain,
                "resourceRecordName": f"_{c.h[:32]}.{domain}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{_hex(c.h, 'v', n=32)}.acm-validations.aws.",
            }
        ],
        "status": "PENDING_VALIDATION",
    }


def _deployment_group(c: _Resource) -> dict[str, Any]:
    app, group = c.inputs["appName"], c.inputs["deploymentGroupName"]
    return {
        "arn": c.arn("codedeploy", f"deploymentgroup:{app}/{group}"),
        "deploymentGroupId": _uuid(c.h),
        "computePlatform": "Lambda",
    }


def _domain_name(c: _Resource) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:apigateway:{c.region}::/domainnames/{c.inputs['domainName']}",
        "regionalDomainName": f"d-{c.h[:10]}.execute-api.{c.region}.amazonaws.com",
        "regionalZoneId": APIGW_ZONES.get(c.region, "ZAPIGWREGIONAL"),
    }


#: Type token -> the outputs AWS computes that the program reads (on top of the inputs).
_OUTPUTS: dict[str, Callable[[_Resource], dict[str, Any]]] = {
    "aws:lambda/function:Function": _function,
    "aws:lambda/alias:Alias": _alias,
    "aws:lambda/invocation:Invocation": lambda _: {"result": "{}"},
    "aws:apigateway/restApi:RestApi": _rest_api,
    "aws:apigateway/stage:Stage": _stage,
    "aws:apigateway/domainName:DomainName": _domain_name,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:rds/instance:Instance": _db_instance,
    "aws:rds/subnetGroup:SubnetGroup": lambda c: {"name": c.physical},
    "aws:ecr/repository:Repository": _repository,
    "docker:index/image:Image": _image,
    "aws:cloudwatch/logGroup:LogGroup": lambda c: {"arn": c.arn("logs", f"log-group:{c.physical}")},
    "aws:cloudwatch/eventRule:EventRule": lambda c: {
        "name": c.physical,
        "arn": c.arn("events", f"rule/{c.physical}"),
    },
    "aws:sqs/queue:Queue": lambda c: {
        "name": c.physical,
        "arn": c.arn("sqs", c.physical),
        "url": f"https://sqs.{c.region}.amazonaws.com/{ACCOUNT}/{c.physical}",
    },
    "aws:iam/role:Role": lambda c: {
        "name": c.physical,
        "arn": c.arn("iam", f"role/{c.physical}", region=False),
    },
    "aws:ecs/cluster:Cluster": lambda c: {
        "name": c.physical,
        "arn": c.arn("ecs", f"cluster/{c.physical}"),
    },
    "aws:ecs/service:Service": lambda c: {"name": c.physical},
    "aws:ecs/taskDefinition:TaskDefinition": lambda c: {
        "arn": c.arn("ecs", f"task-definition/{c.inputs.get('family')}:1")
    },
    "aws:acm/certificate:Certificate": _certificate,
    "aws:route53/record:Record": lambda c: {"fqdn": str(c.inputs["name"]).rstrip(".")},
    "random:index/randomId:RandomId": lambda c: {
        "hex": c.h[: 2 * int(c.inputs.get("byteLength", 4))],
        "b64Url": c.h[:6],
    },
    "aws:secretsmanager/secret:Secret": lambda c: {
        "arn": c.arn("secretsmanager", f"secret:{c.physical}-{c.h[:6]}")
    },
    # ARN formats of the Service Authorization Reference (SNS, KMS, CloudWatch, CodeDeploy:
    # https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
    "aws:kms/key:Key": lambda c: {
        "arn": c.arn("kms", f"key/{_uuid(c.h)}"),
        "keyId": _uuid(c.h),
    },
    "aws:sns/topic:Topic": lambda c: {"name": c.physical, "arn": c.arn("sns", c.physical)},
    "aws:sns/topicSubscription:TopicSubscription": lambda c: {
        "arn": f"{c.inputs['topic']}:{_uuid(c.h)}"
    },
    "aws:cloudwatch/metricAlarm:MetricAlarm": lambda c: {
        "name": c.physical,
        "arn": c.arn("cloudwatch", f"alarm:{c.physical}"),
    },
    "aws:cloudwatch/dashboard:Dashboard": lambda c: {
        "dashboardArn": c.arn("cloudwatch", f"dashboard/{c.inputs['dashboardName']}", region=False),
    },
    "aws:codedeploy/application:Application": lambda c: {
        "name": c.physical,
        "arn": c.arn("codedeploy", f"application:{c.physical}"),
        "applicationId": _uuid(c.h),
    },
    "aws:codedeploy/deploymentConfig:DeploymentConfig": lambda c: {
        "arn": c.arn("codedeploy", f"deploymentconfig:{c.inputs['deploymentConfigName']}"),
        "deploymentConfigId": _uuid(c.h),
    },
    "aws:codedeploy/deploymentGroup:DeploymentGroup": _deployment_group,
}


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


def _uuid(h: str) -> str:
    """A UUID-shaped id (8-4-4-4-12 hex) from a hash."""
    digest = hashlib.sha256(h.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


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
    input_dependencies: dict[str, list[str]]
    """Input name -> URNs of the resources whose outputs that input was made from (the
    engine's property dependencies): what wires one resource to another, mock-independent."""
    aliases: list[str]
    """URNs this resource was known by before (Pulumi `aliases`): a deployed resource with one
    of them is this one, updated in place rather than replaced."""


def alias_urns(request: Any, urn: str) -> list[str]:
    """The earlier URNs of a registration's `aliases`, as the engine derives them from each
    alias spec (a field left empty keeps the resource's own: name, type, parent, stack,
    project). Providers add their own (a type renamed between versions); ours rename."""
    prefix, project, qualified, name = urn.split("::", 3)
    chain, _, own_type = qualified.rpartition("$")
    found = []
    for alias in request.aliases:
        if alias.urn:
            found.append(alias.urn)
            continue
        spec = alias.spec
        parent_chain = chain
        if spec.noParent:
            parent_chain = ""
        elif spec.parentUrn:
            parent_chain = spec.parentUrn.split("::", 3)[2]
        type_ = spec.type or own_type
        stack_prefix = f"urn:pulumi:{spec.stack}" if spec.stack else prefix
        found.append(
            f"{stack_prefix}::{spec.project or project}::"
            f"{parent_chain + '$' if parent_chain else ''}{type_}::{spec.name or name}"
        )
    return found


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
        earlier = [a.spec.name for a in request.aliases if not a.urn and a.spec.name]
        if earlier and isinstance(self.mocks, RecordingMocks):
            with self._lock:
                self.mocks.earlier_names[(request.type, request.name)] = earlier[0]
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
                        input_dependencies={
                            key: sorted(deps.urns)
                            for key, deps in request.propertyDependencies.items()
                            if deps.urns
                        },
                        aliases=alias_urns(request, response.urn),
                    )
                )
        return response
