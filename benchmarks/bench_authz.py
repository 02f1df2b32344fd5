"""Authorization: the latency of one ``Principal.can`` / ``authorize`` decision, in process.

Run from the repository root:

    python benchmarks/bench_authz.py

Principals with several role bindings (organisation-wide and per team) ask
every permission in every scope (the organisation and five teams). Side by
side, on the same requests:

* Charter's ``Principal.can`` and ``authorize`` (which raises on a denial);
* pycasbin (``casbin`` from PyPI, see ``benchmarks/requirements.txt``), an
  RBAC-with-domains model with the same semantics: a role bound in the
  organisation holds everywhere, a role bound in a team holds in that team;
* a naive baseline: walk the bindings and look the permission up in each
  role's set, the obvious code without the precomputed table.

The script asserts that all three give the same allow/deny answer to every
request. Latency is measured per request as the mean of a batch of identical
calls (a single call is shorter than the clock's own overhead); p50 and p99
are over all batches of all requests.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from _common import RESULTS, command_line, machine, peak_rss_mb, percentile, table, verdict

from charter.errors import PermissionDenied
from charter.security.permissions import ROLE_PERMISSIONS, Permission, Role
from charter.security.principal import ORG, Binding, Principal, Scope, authorize

TARGET_P50_US = 20.0
TEAMS = (1, 2, 3, 4, 5)
SCOPES = (ORG, *(Scope.team(t) for t in TEAMS))

PRINCIPALS = {
    # the case the issue names: several bindings, organisation-wide and per team
    "several bindings": (
        Binding(Role.VIEWER),
        Binding(Role.MODEL_OWNER, 1),
        Binding(Role.REVIEWER, 2),
        Binding(Role.RISK_OFFICER, 3),
        Binding(Role.MODEL_OWNER, 4),
    ),
    "team-only bindings": (Binding(Role.MODEL_OWNER, 1), Binding(Role.REVIEWER, 2), Binding(Role.SERVICE, 5)),
    "auditor": (Binding(Role.AUDITOR),),
    "no binding": (),
}

CASBIN_MODEL = """
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = (g(r.sub, p.sub, r.dom) || g(r.sub, p.sub, "org")) && r.act == p.act
"""


def domain(scope: Scope) -> str:
    return "org" if scope.team_id is None else f"team:{scope.team_id}"


def casbin_enforcer() -> Any:
    """Role permissions as ``p`` rules, bindings as ``g`` rules in a domain (``org`` or ``team:N``)."""
    import casbin
    from casbin import model as casbin_model

    model = casbin_model.Model()
    model.load_model_from_text(CASBIN_MODEL)
    enforcer = casbin.Enforcer(model)
    for role, permissions in ROLE_PERMISSIONS.items():
        for permission in sorted(permissions):
            enforcer.add_policy(f"role:{role.value}", permission.value)
    for name, bindings in PRINCIPALS.items():
        for b in bindings:
            enforcer.add_grouping_policy(
                name, f"role:{b.role.value}", "org" if b.team_id is None else f"team:{b.team_id}"
            )
    return enforcer


def naive_can(bindings: tuple[Binding, ...], permission: Permission, scope: Scope) -> bool:
    for b in bindings:
        if permission in ROLE_PERMISSIONS[b.role] and (b.team_id is None or b.team_id == scope.team_id):
            return True
    return False


def authorize_bool(principal: Principal, permission: Permission, scope: Scope) -> bool:
    try:
        authorize(principal, permission, scope)
    except PermissionDenied:
        return False
    return True


def latencies(call: Callable[[], object], *, batches: int, batch: int) -> list[float]:
    """Seconds per call, one figure per batch of ``batch`` identical calls."""
    out = []
    clock = time.perf_counter
    for _ in range(batches):
        started = clock()
        for _ in range(batch):
            call()
        out.append((clock() - started) / batch)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=60, help="batches per request")
    parser.add_argument("--batch", type=int, default=50, help="identical calls per batch")
    parser.add_argument("--casbin-batches", type=int, default=4, help="batches per request for casbin (slow)")
    parser.add_argument("--casbin-batch", type=int, default=4)
    args = parser.parse_args()
    print(f"$ {command_line()}\nmachine: {machine()}")

    try:
        enforcer = casbin_enforcer()
    except ImportError:
        enforcer = None
        print(
            "casbin is not installed (pip install -r benchmarks/requirements.txt): "
            "compared with the naive baseline only"
        )

    principals = {name: Principal(id=1, kind="user", name=name, bindings=b) for name, b in PRINCIPALS.items()}
    requests = [(name, perm, scope) for name in principals for perm in Permission for scope in SCOPES]

    # Same answers everywhere, or the figures mean nothing.
    allowed = 0
    for name, perm, scope in requests:
        p = principals[name]
        answers = {
            "can": p.can(perm, scope),
            "authorize": authorize_bool(p, perm, scope),
            "naive": naive_can(p.bindings, perm, scope),
        }
        if enforcer is not None:
            answers["casbin"] = bool(enforcer.enforce(name, domain(scope), perm.value))
        assert len(set(answers.values())) == 1, f"{name} {perm} {scope}: {answers}"
        allowed += answers["can"]
    print(
        f"{len(requests):,} requests ({len(principals)} principals x {len(Permission)} permissions x "
        f"{len(SCOPES)} scopes): identical answers from every implementation, {allowed:,} allowed"
    )

    samples: dict[str, list[float]] = {}

    def run(
        label: str,
        make: Callable[[str, Permission, Scope], Callable[[], object]],
        *,
        batches: int,
        batch: int,
        only: Callable[[bool], bool] = lambda allow: True,
    ) -> None:
        for name, perm, scope in requests:
            if only(principals[name].can(perm, scope)):
                samples.setdefault(label, []).extend(latencies(make(name, perm, scope), batches=batches, batch=batch))

    b, n = args.batches, args.batch
    run("Principal.can", lambda name, perm, scope: lambda p=principals[name]: p.can(perm, scope), batches=b, batch=n)
    run(
        "authorize(), allowed",
        lambda name, perm, scope: lambda p=principals[name]: authorize(p, perm, scope),
        batches=b,
        batch=n,
        only=lambda allow: allow,
    )
    run(
        "authorize(), denied (raises)",
        lambda name, perm, scope: lambda p=principals[name]: authorize_bool(p, perm, scope),
        batches=b,
        batch=n,
        only=lambda allow: not allow,
    )
    run(
        "naive: loop over bindings",
        lambda name, perm, scope: lambda bs=PRINCIPALS[name]: naive_can(bs, perm, scope),
        batches=b,
        batch=n,
    )
    if enforcer is not None:
        run(
            "casbin Enforcer.enforce (RBAC with domains)",
            lambda name, perm, scope: lambda: enforcer.enforce(name, domain(scope), perm.value),
            batches=args.casbin_batches,
            batch=args.casbin_batch,
        )
    # Built once per request from the database rows; the decision table is made here.
    bindings = PRINCIPALS["several bindings"]
    samples["build a Principal (5 bindings)"] = latencies(
        lambda: Principal(id=1, kind="user", name="x", bindings=bindings), batches=2000, batch=20
    )

    base = percentile(samples["Principal.can"], 50)
    rows = []
    for label, values in samples.items():
        p50, p99 = percentile(values, 50) * 1e6, percentile(values, 99) * 1e6
        target = f"p50 <= {TARGET_P50_US:.0f} µs: {verdict(p50 <= TARGET_P50_US)}" if label == "Principal.can" else "-"
        if label.startswith("authorize"):
            target = f"p50 <= {TARGET_P50_US:.0f} µs: {verdict(p50 <= TARGET_P50_US)}"
        rows.append([label, f"{p50:.3f}", f"{p99:.3f}", f"{percentile(values, 50) / base:.1f}", len(values), target])
    print(
        table(
            "Authorization decision latency (µs; mean of a batch of identical calls)",
            ["implementation", "p50 µs", "p99 µs", "ratio to can() p50", "batches", "target"],
            rows,
        )
    )
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MB")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_authz.json"
    out.write_text(json.dumps({"command": command_line(), "machine": machine(), "rows": rows}, indent=2))
    print(f"\nraw figures: {out.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
