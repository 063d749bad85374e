"""`python -m plan diff --stack dev --base origin/main`: what a change does to a stack's plan.

Plans BASE (a git ref, checked out in a temporary `git worktree`) and the work tree offline,
each with the artifacts built from its own sources (`plan.artifacts`: the work tree's dist/
brought up to date, the base's from the artifact cache or built in a worktree), then writes
dist/plan-diff-<stack>.md: resources added, removed and changed with the inputs that changed, a
Lambda's old and new code sha256 when its zip changed, and replacements flagged (inputs that
force one, per `REPLACE_ON`). `diff_plans` and `render_markdown` are pure functions of two
plans; `main` only gathers the plans.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plan import artifacts

ROOT = Path(__file__).resolve().parent.parent
COMPUTED = "<computed>"
MARKER = "<!-- rust-on-aws plan-diff {stack} -->"
"""First line of the report: lets CI find and update its own PR comment (sticky)."""

# Inputs whose change makes the provider replace the resource (ForceNew in the AWS provider
# schema), for the types this program creates. "*" means every input except tags.
REPLACE_ON: dict[str, frozenset[str]] = {
    "aws:rds/instance:Instance": frozenset(
        {"identifier", "identifierPrefix", "engine", "dbName", "username", "availabilityZone",
         "storageEncrypted", "kmsKeyId", "characterSetName", "timezone", "customIamInstanceProfile"}
    ),
    "aws:rds/subnetGroup:SubnetGroup": frozenset({"name", "namePrefix"}),
    "aws:lambda/function:Function": frozenset({"name"}),
    "aws:lambda/alias:Alias": frozenset({"name", "functionName"}),
    "aws:lambda/permission:Permission": frozenset({"*"}),
    "aws:ec2/vpc:Vpc": frozenset({"cidrBlock", "instanceTenancy"}),
    "aws:ec2/subnet:Subnet": frozenset(
        {"cidrBlock", "availabilityZone", "availabilityZoneId", "vpcId"}
    ),
    "aws:ec2/securityGroup:SecurityGroup": frozenset(
        {"name", "namePrefix", "vpcId", "description"}
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": frozenset({"securityGroupId"}),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": frozenset({"securityGroupId"}),
    "aws:ec2/natGateway:NatGateway": frozenset({"subnetId", "allocationId", "connectivityType"}),
    "aws:ec2/routeTable:RouteTable": frozenset({"vpcId"}),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": frozenset({"subnetId"}),
    "aws:ecr/repository:Repository": frozenset({"name", "encryptionConfigurations"}),
    "aws:ecs/cluster:Cluster": frozenset({"name"}),
    "aws:ecs/service:Service": frozenset({"name", "cluster", "launchType", "schedulingStrategy"}),
    # Task definitions are immutable revisions: any change registers a new one.
    "aws:ecs/taskDefinition:TaskDefinition": frozenset({"*"}),
    "aws:iam/role:Role": frozenset({"name", "namePrefix", "path"}),
    "aws:iam/rolePolicy:RolePolicy": frozenset({"name", "namePrefix", "role"}),
    "aws:iam/policy:Policy": frozenset({"name", "namePrefix", "path", "description"}),
    "aws:cloudwatch/logGroup:LogGroup": frozenset({"name", "namePrefix", "logGroupClass"}),
    "aws:cloudwatch/eventRule:EventRule": frozenset({"name", "namePrefix", "eventBusName"}),
    "aws:cloudwatch/eventTarget:EventTarget": frozenset({"rule", "targetId", "eventBusName"}),
    "aws:sqs/queue:Queue": frozenset({"name", "namePrefix", "fifoQueue"}),
    "aws:apigateway/resource:Resource": frozenset({"restApi", "parentId", "pathPart"}),
    "aws:apigateway/method:Method": frozenset({"restApi", "resourceId", "httpMethod"}),
    "aws:apigateway/integration:Integration": frozenset({"restApi", "resourceId", "httpMethod"}),
    "aws:apigateway/deployment:Deployment": frozenset({"restApi", "triggers", "description"}),
    "aws:apigateway/stage:Stage": frozenset({"restApi", "stageName"}),
    "aws:apigateway/authorizer:Authorizer": frozenset({"restApi"}),
    "aws:lb/loadBalancer:LoadBalancer": frozenset({"name", "namePrefix", "internal",
                                                   "loadBalancerType"}),
    "aws:lb/targetGroup:TargetGroup": frozenset({"name", "namePrefix", "port", "protocol",
                                                 "vpcId", "targetType"}),
}  # fmt: skip
_NEVER_REPLACES = frozenset({"tags", "tagsAll"})
# Inputs that restate another one (a Lambda's sourceCodeHash is base64 of the zip's sha256):
# shown only when the input they restate did not change.
_RESTATES: dict[str, tuple[str, str]] = {
    "aws:lambda/function:Function": ("sourceCodeHash", "code.sha256"),
}


class DiffError(Exception):
    """A plan could not be made or read; the message says what to run."""


@dataclass(frozen=True)
class Change:
    """One input that differs: its dotted path, old and new value, and whether it replaces."""

    path: str
    old: Any
    new: Any
    replaces: bool


@dataclass(frozen=True)
class ResourceDiff:
    """A resource that is added, removed or changed (`replaces` when a change forces it)."""

    kind: str  # "added" | "removed" | "changed"
    type: str
    name: str
    changes: tuple[Change, ...] = ()
    was: str | None = None
    """The name it had in the base plan, when it is kept under a new one (Pulumi aliases)."""

    @property
    def replaces(self) -> bool:
        """Whether applying this diff replaces the resource."""
        return any(c.replaces for c in self.changes)


@dataclass(frozen=True)
class PlanDiff:
    """The difference between two plans of one stack, in the head plan's order."""

    resources: tuple[ResourceDiff, ...]
    unchanged: int
    renamed: tuple[tuple[str, str], ...] = ()
    """(old name, new name) of every resource kept under a new name through an alias."""

    def of_kind(self, kind: str) -> list[ResourceDiff]:
        """The resource diffs of one kind."""
        return [r for r in self.resources if r.kind == kind]


def _key(entry: Mapping[str, Any]) -> str:
    return str(entry.get("urn") or f"{entry['type']}::{entry['name']}")


def _is_archive(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"path", "sha256"}


def _changes(old: Any, new: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(path, old, new) for every leaf that differs; archives compare by sha256 alone."""
    if _is_archive(old) and _is_archive(new):
        if old["sha256"] != new["sha256"]:
            yield f"{path}.sha256", old["sha256"], new["sha256"]
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            yield from _changes(old.get(key), new.get(key), sub)
        return
    if _json_string(old) is not None and _json_string(new) is not None:
        yield from _changes(_json_string(old), _json_string(new), path)
        return
    if old != new:
        yield path, old, new


def _json_string(value: Any) -> dict[str, Any] | None:
    """A JSON document held in a string input (policies, container definitions), else None.

    Arrays become {"0": ..., "1": ...} so their items diff by position.
    """
    if not isinstance(value, str) or value[:1] not in ("{", "["):
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    if isinstance(parsed, list):
        return {str(i): item for i, item in enumerate(parsed)}
    return parsed if isinstance(parsed, dict) else None


def _forces_replacement(type_: str, path: str) -> bool:
    keys = REPLACE_ON.get(type_, frozenset())
    top = path.split(".", 1)[0]
    if top in _NEVER_REPLACES:
        return False
    return top in keys or "*" in keys


def diff_plans(base: Sequence[Mapping[str, Any]], head: Sequence[Mapping[str, Any]]) -> PlanDiff:
    """What applying `head` over `base` adds, removes and changes (inputs only)."""
    old = {_key(e): e for e in base}
    new = {_key(e): e for e in head}
    found: list[ResourceDiff] = []
    unchanged = 0
    matched: set[str] = set()
    renamed: list[tuple[str, str]] = []
    for key, entry in new.items():
        # A resource with an alias naming a base resource is that resource, kept (Pulumi
        # matches the deployed state by alias before it compares inputs).
        base_key = (
            key if key in old else next((a for a in entry.get("aliases", ()) if a in old), None)
        )
        if base_key is None:
            found.append(ResourceDiff("added", entry["type"], entry["name"]))
            continue
        matched.add(base_key)
        was = old[base_key]["name"] if base_key != key else None
        if was is not None:
            renamed.append((was, entry["name"]))
        changes = tuple(
            Change(path, before, after, _forces_replacement(entry["type"], path))
            for path, before, after in _changes(
                old[base_key].get("inputs") or {}, entry.get("inputs") or {}, ""
            )
        )
        restated, source = _RESTATES.get(entry["type"], ("", ""))
        if any(c.path == source for c in changes):
            changes = tuple(c for c in changes if c.path != restated)
        if changes:
            found.append(ResourceDiff("changed", entry["type"], entry["name"], changes, was))
        else:
            unchanged += 1
    found.extend(
        ResourceDiff("removed", entry["type"], entry["name"])
        for key, entry in old.items()
        if key not in new and key not in matched
    )
    return PlanDiff(tuple(found), unchanged, tuple(renamed))


def _cell(value: Any) -> str:
    if value is None:
        return "_(none)_"
    if value == COMPUTED:
        return "_(known after deploy)_"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text) > 120:
        text = text[:117] + "..."
    return "`" + text.replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def render_markdown(diff: PlanDiff, *, stack: str, base: str, head: str = "work tree") -> str:
    """The report, ready to post as a pull-request comment."""
    added, removed, changed = (diff.of_kind(k) for k in ("added", "removed", "changed"))
    replaced = [r for r in changed if r.replaces]
    lines = [
        MARKER.format(stack=stack),
        f"### Plan diff: `{stack}` (`{base}` → {head})",
        "",
    ]
    renames = [f"`{a}` → `{b}`" for a, b in sorted(set(diff.renamed))]
    kept = f" Kept under a new name (aliases): {', '.join(renames)}." if renames else ""
    if not diff.resources:
        lines += [f"No changes: {diff.unchanged} resources unchanged.{kept}", ""]
        return "\n".join(lines)
    lines += [
        f"**{len(added)} to add, {len(changed)} to change ({len(replaced)} replaced), "
        f"{len(removed)} to remove**; {diff.unchanged} unchanged.{kept}",
        "",
    ]
    for title, items in (("Added", added), ("Removed", removed)):
        if items:
            lines += [f"#### {title}", "", "| type | name |", "| --- | --- |"]
            lines += [f"| `{r.type}` | `{r.name}` |" for r in items]
            lines.append("")
    if changed:
        lines += ["#### Changed", ""]
        for r in changed:
            flag = " **(replace)**" if r.replaces else ""
            was = f", was `{r.was}`" if r.was else ""
            lines += [
                f"- `{r.name}` (`{r.type}`{was}){flag}",
                "",
                "  | input | before | after | |",
                "  | --- | --- | --- | --- |",
            ]
            for c in r.changes:
                note = "forces replacement" if c.replaces else ""
                lines.append(f"  | `{c.path}` | {_cell(c.old)} | {_cell(c.new)} | {note} |")
            lines.append("")
    return "\n".join(lines)


# ---- gathering the two plans ---------------------------------------------------------------


def _run(argv: list[str], cwd: Path) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise DiffError(
            f"`{' '.join(argv)}` in {cwd} exited {result.returncode}: {' / '.join(tail)}"
        )


def _plan(root: Path, stack: str, manifest: Path, out: Path) -> list[dict[str, Any]]:
    if not (root / "plan" / "__main__.py").is_file():
        raise DiffError(f"{root} has no plan runner (plan/__main__.py); pick a newer --base")
    _run(
        [sys.executable, "-m", "plan", "--stack", stack, "--manifest", str(manifest),
         "--out", str(out)],
        root,
    )  # fmt: skip
    data = json.loads(out.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise DiffError(f"{out} is not a plan (a JSON array); rerun `make plan`")
    return data


def plan_ref(ref: str, stack: str, manifest: Path, out: Path, *, repo: Path = ROOT) -> list[Any]:
    """Plan `stack` as of git `ref`, in a temporary worktree removed afterwards.

    The manifest's folder is copied into the worktree: to the same place when it is in the
    repository (tests/fixtures/...), else (the artifact cache) to dist/, where `make build`
    puts it; so the paths the plan records relative to the root (the image's build context)
    match the work tree's plan and only real changes show.
    """
    with tempfile.TemporaryDirectory(prefix="plan-diff-") as tmp:
        tree = Path(tmp) / "base"
        _run(["git", "worktree", "add", "--detach", "--quiet", str(tree), ref], repo)
        try:
            relative = Path("dist") / manifest.name
            if manifest.is_relative_to(repo) and not manifest.is_relative_to(
                artifacts.common_dir(repo)
            ):
                relative = manifest.relative_to(repo)
            shutil.copytree(
                manifest.parent, tree / relative.parent, symlinks=True, dirs_exist_ok=True
            )
            return _plan(tree, stack, tree / relative, out)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=repo, check=False
            )


def main(argv: Sequence[str]) -> int:
    """CLI: gather both plans (or read them), write the Markdown report, print its path."""
    parser = argparse.ArgumentParser(prog="python -m plan diff", description=__doc__)
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--base", default="origin/main", help="git ref to compare against")
    parser.add_argument(
        "--manifest",
        type=Path,
        help="artifact manifest of the work tree (default: run `python -m build all` into "
        "dist/ and use dist/manifest.json)",
    )
    parser.add_argument(
        "--base-manifest",
        type=Path,
        help="artifact manifest of BASE (default: the artifacts built from BASE's sources, "
        "from the artifact cache or built in a worktree)",
    )
    parser.add_argument(
        "--base-plan", type=Path, help="use this plan file instead of planning BASE"
    )
    parser.add_argument("--head-plan", type=Path, help="use this plan file for the work tree")
    parser.add_argument("--out", type=Path, help="default dist/plan-diff-<stack>.md")
    args = parser.parse_args(argv)  # fmt: skip

    dist = ROOT / "dist"
    out = args.out or dist / f"plan-diff-{args.stack}.md"
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "app" / "target")
    if args.manifest is not None and not args.head_plan and not args.manifest.is_file():
        print(
            f"plan diff {args.stack}: manifest {args.manifest} not found; run `make build` first",
            file=sys.stderr,
        )
        return 1
    try:
        dist.mkdir(exist_ok=True)
        if args.head_plan:
            head = _load(args.head_plan)
        else:
            manifest = args.manifest or artifacts.for_worktree(ROOT, target_dir=target_dir)
            head = _plan(ROOT, args.stack, manifest.resolve(), dist / f"plan-{args.stack}.json")
        if args.base_plan:
            base = _load(args.base_plan)
        else:
            base_manifest = args.base_manifest or artifacts.for_ref(
                ROOT, args.base, target_dir=target_dir
            )
            base = plan_ref(
                args.base,
                args.stack,
                base_manifest.resolve(),
                dist / f"plan-{args.stack}-base.json",
            )
    except (DiffError, artifacts.ArtifactError) as err:
        print(f"plan diff {args.stack}: {err}", file=sys.stderr)
        return 1
    diff = diff_plans(base, head)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_markdown(diff, stack=args.stack, base=args.base), encoding="utf-8")
    print(
        f"plan diff {args.stack}: {len(diff.resources)} resource(s) differ from {args.base}; "
        f"wrote {out}"
    )
    return 0


def _load(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DiffError(f"cannot read plan {path} ({err}); run `make plan`") from err
    if not isinstance(data, list):
        raise DiffError(f"{path} is not a plan (a JSON array); run `make plan`")
    return data
