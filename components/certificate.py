"""Certificate: an ACM certificate for one domain name, given or created with DNS validation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

TYPE = "rust-on-aws:certificate:Certificate"
ACM_ARN = re.compile(r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}")
"""An ACM certificate ARN (https://docs.aws.amazon.com/acm/latest/userguide/acm-concepts.html)."""
DOMAIN_NAME = re.compile(
    r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]"
)
"""A fully qualified host name in lowercase: labels of 1..63 letters, digits and hyphens."""
HOSTED_ZONE_ID = re.compile(r"Z[A-Z0-9]{1,31}")
"""A Route 53 hosted zone id (Z followed by upper-case letters and digits)."""


@dataclass(frozen=True, kw_only=True)
class CertificateArgs:
    domain_name: str
    """The host name the certificate is for (no wildcard), e.g. `api.example.com`."""
    certificate_arn: str | None = None
    """An existing ACM certificate for `domain_name` in the stack's region: used as it is, and
    nothing is created. Default none: a certificate is requested and validated here."""
    zone_id: str | None = None
    """Route 53 hosted zone that holds `domain_name`: the DNS validation record goes there.
    Required when `certificate_arn` is not given."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on the certificate."""


class Certificate(pulumi.ComponentResource):
    """An ACM certificate that is *issued* once `arn` resolves (validation waited for)."""

    arn: pulumi.Output[str]
    domain_name: str

    def __init__(
        self, name: str, args: CertificateArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        if not DOMAIN_NAME.fullmatch(args.domain_name):
            raise ValueError(
                f"Certificate {name}: domain_name must be a lowercase host name such as "
                f"api.example.com, got {args.domain_name!r}"
            )
        if args.certificate_arn is not None and not ACM_ARN.fullmatch(args.certificate_arn):
            raise ValueError(
                f"Certificate {name}: certificate_arn must be an ACM certificate ARN "
                f"(arn:aws:acm:<region>:<account>:certificate/<uuid>), got {args.certificate_arn!r}"
            )
        if args.certificate_arn is None and not (
            args.zone_id and HOSTED_ZONE_ID.fullmatch(args.zone_id)
        ):
            raise ValueError(
                f"Certificate {name}: creating a certificate for {args.domain_name} needs the "
                f"Route 53 hosted zone id (Z...) to validate it in, got zone_id={args.zone_id!r}; "
                "pass zone_id or an existing certificate_arn"
            )
        self.domain_name = args.domain_name
        if args.certificate_arn is not None:
            self.arn = pulumi.Output.from_input(args.certificate_arn)
            self.register_outputs({"arn": self.arn})
            return
        child = pulumi.ResourceOptions(parent=self)
        certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=args.domain_name,
            validation_method="DNS",
            key_algorithm="RSA_2048",
            tags={**args.tags, "Name": args.domain_name},
            # A renewed or changed certificate is issued before the old one is released.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
        )
        # One domain name, no alternative names: exactly one validation record.
        option = certificate.domain_validation_options[0]
        record = aws.route53.Record(
            f"{name}-validation",
            zone_id=args.zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            allow_overwrite=True,
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-validated",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=child,
        )
        self.arn = validation.certificate_arn
        self.register_outputs({"arn": self.arn})
