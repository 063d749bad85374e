"""Time-boxed exceptions to the guardrails: each names the rule, the resources and the way out.

A waiver is the policy equivalent of a checkov skip comment: explicit, reviewed, and listed in
every report (`python -m policy.offline` prints them) so it cannot be forgotten. Both runners
honour the same list, so what CI accepts offline is what CrossGuard accepts at `pulumi up`.
Delete a waiver as soon as the program complies; a waiver that matches nothing is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from policy.model import Violation


@dataclass(frozen=True)
class Waiver:
    """Accept violations of `rule` by resources whose name matches `resource` (fnmatch)."""

    rule: str
    resource: str
    reason: str
    """Why it is accepted for now, and the change that lets this waiver be deleted."""

    def covers(self, violation: Violation) -> bool:
        """Whether this waiver accepts the violation."""
        return violation.rule == self.rule and fnmatchcase(violation.resource or "", self.resource)


WAIVERS: tuple[Waiver, ...] = ()


def waiver_for(violation: Violation, waivers: tuple[Waiver, ...] = WAIVERS) -> Waiver | None:
    """The first waiver that accepts `violation`, if any."""
    return next((w for w in waivers if w.covers(violation)), None)
