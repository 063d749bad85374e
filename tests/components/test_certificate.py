"""components/certificate.py under mocks."""

from __future__ import annotations

import pytest

from components.certificate import Certificate, CertificateArgs

CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


def test_a_given_certificate_creates_nothing(run) -> None:
    plan = run(
        lambda: Certificate(
            "c", CertificateArgs(domain_name="api.example.com", certificate_arn=CERT)
        )
    )
    assert [e["type"] for e in plan] == ["rust-on-aws:certificate:Certificate"]


def test_a_created_certificate_is_validated_by_dns_in_the_zone(run) -> None:
    plan = run(
        lambda: Certificate("c", CertificateArgs(domain_name="api.example.com", zone_id="Z0ABC"))
    )
    cert = plan.one("aws:acm/certificate:Certificate")
    assert cert["inputs"]["domainName"] == "api.example.com"
    assert cert["inputs"]["validationMethod"] == "DNS"
    assert "subjectAlternativeNames" not in cert["inputs"]  # one name: one validation record
    record = plan.one("aws:route53/record:Record")
    assert record["inputs"]["zoneId"] == "Z0ABC"
    # name, type and value of the record come from the certificate's validation options
    for key in ("name", "type", "records"):
        assert {e["name"] for e in plan.fed_by(record, key)} == {"c-cert"}, key
    validation = plan.one("aws:acm/certificateValidation:CertificateValidation")
    assert {e["name"] for e in plan.fed_by(validation, "certificateArn")} == {"c-cert"}
    assert {e["name"] for e in plan.fed_by(validation, "validationRecordFqdns")} == {"c-validation"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            CertificateArgs(domain_name="*.example.com", zone_id="Z0ABC"),
            "Certificate c: domain_name must be a lowercase host name such as api.example.com, "
            "got '*.example.com'",
        ),
        (
            CertificateArgs(domain_name="api.example.com", certificate_arn="arn:aws:iam::1:x"),
            "Certificate c: certificate_arn must be an ACM certificate ARN "
            "(arn:aws:acm:<region>:<account>:certificate/<uuid>), got 'arn:aws:iam::1:x'",
        ),
        (
            CertificateArgs(domain_name="api.example.com"),
            "Certificate c: creating a certificate for api.example.com needs the Route 53 hosted "
            "zone id (Z...) to validate it in, got zone_id=None; pass zone_id or an existing "
            "certificate_arn",
        ),
    ],
)
def test_guards(run, args: CertificateArgs, message: str) -> None:
    with pytest.raises(ValueError) as info:
        run(lambda: Certificate("c", args))
    assert str(info.value) == message
