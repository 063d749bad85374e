"""The domains section: TLS on every public entry point (API Gateway and the load balancer).

Each entry point gets a custom domain name with either a given ACM certificate or one created
and DNS-validated in the stack's Route 53 hosted zone, plus an alias record there. A production
stack refuses to plan without both: otherwise the load balancer serves plain HTTP and bearer
tokens cross the internet in cleartext.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.certificate import ACM_ARN, DOMAIN_NAME, HOSTED_ZONE_ID
from components.settings.reader import Reader

ACM_EXAMPLE = "arn:aws:acm:eu-west-1:123456789012:certificate/<uuid>"


@dataclass(frozen=True, kw_only=True)
class Domain:
    name: str
    certificate_arn: str | None
    """None: create and validate one in the hosted zone."""


@dataclass(frozen=True, kw_only=True)
class DomainSettings:
    zone_id: str | None
    """Route 53 hosted zone holding the domain names (None: no records, certificates given)."""
    api: Domain | None
    service: Domain | None
    disable_execute_api_endpoint: bool


def _domain(r: Reader, name_key: str, cert_key: str, zone: str, production: bool) -> Domain | None:
    fix = r.set_fix
    name = r.string(name_key, "")
    certificate = r.string(cert_key, "")
    if name and not DOMAIN_NAME.fullmatch(name):
        r.fail(
            name_key,
            "must be a lowercase host name (labels of a-z, 0-9 and -)",
            name,
            fix(name_key, "api.example.com"),
        )
    if certificate and not ACM_ARN.fullmatch(certificate):
        r.fail(
            cert_key,
            "must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<uuid>) "
            "or empty to create one",
            certificate,
            fix(cert_key, ACM_EXAMPLE),
        )
    if certificate and not name:
        r.fail(
            name_key,
            f"must be set when {cert_key} is: the certificate is for this host name",
            name,
            fix(name_key, "api.example.com"),
        )
    if name and not certificate and not zone:
        r.fail(
            "hostedZoneId",
            f"is needed to create and DNS-validate the certificate of {name_key} {name}",
            zone,
            f"{fix('hostedZoneId', 'Z0123456789ABCDEFGHIJ')} (or set {cert_key})",
        )
    if production and not name:
        r.fail(
            name_key,
            "must be set when environment is production: every public entry point serves TLS",
            name,
            fix(name_key, "api.example.com"),
        )
    return Domain(name=name, certificate_arn=certificate or None) if name else None


def read_domains(r: Reader, production: bool) -> DomainSettings:
    zone = r.string("hostedZoneId", "")
    if zone and not HOSTED_ZONE_ID.fullmatch(zone):
        r.fail(
            "hostedZoneId",
            "must be a Route 53 hosted zone id (Z followed by A-Z and 0-9)",
            zone,
            r.set_fix("hostedZoneId", "Z0123456789ABCDEFGHIJ"),
        )
    api = _domain(r, "apiDomainName", "apiCertificateArn", zone, production)
    service = _domain(r, "serviceDomainName", "serviceCertificateArn", zone, production)
    disable = r.boolean("apiDisableExecuteApiEndpoint")
    if disable and api is None:
        r.fail(
            "apiDisableExecuteApiEndpoint",
            "needs apiDomainName: without the default endpoint and a custom domain the API has no "
            "endpoint",
            disable,
            r.set_fix("apiDisableExecuteApiEndpoint", "false"),
        )
    return DomainSettings(
        zone_id=zone or None, api=api, service=service, disable_execute_api_endpoint=disable
    )
