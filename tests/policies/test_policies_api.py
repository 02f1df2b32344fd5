"""Policies through the REST API: validation, versions, the lifecycle at the gates, four eyes, waivers, dry runs."""

from __future__ import annotations

from typing import Any

from tests.policies.conftest import FAIRNESS, MODEL, Gov, policy


def test_malformed_policies_are_refused_at_save_time_with_the_position(gov: Gov) -> None:
    bad_fact = policy(expr="facts.card.fields.limitation != null")
    response = gov.post("/policies", bad_fact)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"]["errors"] == [
        {
            "field": "rules[0] (rule-one)",
            "line": 1,
            "column": 19,
            "message": error["details"]["errors"][0]["message"],
        }
    ]
    assert "unknown fact facts.card.fields.limitation" in error["message"]
    syntax = gov.post("/policies", policy(match="facts.version.stage == "))
    assert syntax.status_code == 422
    assert syntax.json()["error"]["details"]["errors"][0]["field"] == "match"
    typed = gov.post("/policies", policy(expr="facts.approvals.count > 'two'"))
    assert typed.status_code == 422 and "cannot order an int and a string" in typed.json()["error"]["message"]
    # Structure: pydantic's 422, with the field named.
    duplicate = policy()
    duplicate["rules"] = duplicate["rules"] * 2
    assert gov.post("/policies", duplicate).status_code == 422
    assert gov.post("/policies", {**policy(), "id": "Bad Id"}).status_code == 422
    assert gov.post("/policies", {**policy(), "rules": []}).status_code == 422
    # Nothing was stored.
    assert gov.ok(gov.client.get("/api/v1/policies", headers=gov.viewer)) == []


def test_a_policy_is_versioned_and_changes_only_in_draft(gov: Gov) -> None:
    created = gov.create(policy())
    assert (created["state"], created["version"], created["version_created_by"]) == ("draft", 1, "user:rosa")
    changed = policy(expr="facts.card.fields.limitations != null && facts.card.fields.caveats != null")
    updated = gov.ok(gov.client.put("/api/v1/policies/card-written", json=changed, headers=gov.risk2))
    assert updated["version"] == 2 and updated["sha256"] != created["sha256"]
    assert updated["version_created_by"] == "user:rick"
    same = gov.ok(gov.client.put("/api/v1/policies/card-written", json=changed, headers=gov.risk))
    assert same["version"] == 2  # the same content makes no new version
    gov.ok(gov.state("card-written", "audit"))
    refused = gov.client.put("/api/v1/policies/card-written", json=policy(), headers=gov.risk)
    assert refused.status_code == 409 and "changes only in draft" in refused.json()["error"]["message"]
    gov.ok(gov.state("card-written", "draft"))
    again = gov.ok(gov.client.put("/api/v1/policies/card-written", json=policy(), headers=gov.risk))
    assert again["version"] == 3
    versions = gov.ok(gov.client.get("/api/v1/policies/card-written/versions", headers=gov.viewer))
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert versions[0]["sha256"] == versions[2]["sha256"]  # back to the first content, as a new version
    history = gov.ok(gov.client.get("/api/v1/policies/card-written", headers=gov.viewer))["history"]
    assert [(h["kind"], h["to_state"]) for h in history] == [
        ("create", "draft"),
        ("update", "draft"),
        ("state", "audit"),
        ("state", "draft"),
        ("update", "draft"),
    ]
    actions = [e["action"] for e in gov.events("policy")]
    assert actions == ["policy.create", "policy.update", "policy.state", "policy.state", "policy.update"]
    mismatch = gov.client.put("/api/v1/policies/card-written", json=policy("other-id"), headers=gov.risk)
    assert mismatch.status_code == 422


def test_enforce_needs_a_second_person_with_policy_approve(gov: Gov) -> None:
    gov.create(policy())
    proposed = gov.ok(gov.state("card-written", "enforce"))
    assert proposed["state"] == "draft"  # still draft until approved
    assert proposed["pending"]["proposed_by"] == "user:rosa" and proposed["pending"]["state"] == "enforce"
    same = gov.post("/policies/card-written/approve", {}, gov.risk)
    assert same.status_code == 403 and "Four eyes" in same.json()["error"]["message"]
    assert gov.post("/policies/card-written/approve", {}, gov.owner).status_code == 403
    assert gov.post("/policies/card-written/approve", {}, gov.viewer).status_code == 403
    approved = gov.ok(gov.post("/policies/card-written/approve", {"comment": "checked"}, gov.risk2))
    assert approved["state"] == "enforce" and approved["pending"] is None and approved["review_due_at"]
    assert approved["state_changed_by"] == "user:rick"
    # The author of the version to be enforced cannot approve it either.
    gov.ok(gov.state("card-written", "draft"))
    gov.ok(gov.client.put("/api/v1/policies/card-written", json=policy(expr="true"), headers=gov.risk2))
    gov.ok(gov.state("card-written", "enforce", gov.admin))
    author = gov.post("/policies/card-written/approve", {}, gov.risk2)
    assert author.status_code == 403 and "wrote the version" in author.json()["error"]["message"]
    assert gov.ok(gov.post("/policies/card-written/approve", {}, gov.risk))["state"] == "enforce"
    events = [(e["action"], e["outcome"], e["actor"]) for e in gov.events("policy")]
    assert ("policy.approve", "denied", "user:rosa") in events
    assert ("policy.approve", "denied", "user:rick") in events
    assert ("policy.approve", "allowed", "user:rick") in events
    nothing = gov.post("/policies/card-written/approve", {}, gov.risk2)
    assert nothing.status_code == 409


def _review(gov: Gov, version: str = "1.0.0") -> Any:
    """Send the version to review (the policy under test matches the stage 'review'), then back."""
    response = gov.promote(version, "review")
    if response.status_code == 200:
        gov.ok(gov.promote(version, "draft"))
    return response


def _policy_evidence(gov: Gov, version: str = "1.0.0") -> list[dict[str, Any]]:
    url = f"/api/v1/models/{MODEL}/versions/{version}/evidence?kind=policy"
    return gov.ok(gov.client.get(url, headers=gov.owner))


def test_each_state_decides_what_the_stage_gate_does(gov: Gov) -> None:
    gov.ok(gov.version("1.0.0"), 201)
    gov.create(policy())  # fails: the card has no limitations

    draft = gov.ok(_review(gov))
    assert draft["warnings"] == [] and _policy_evidence(gov) == []  # draft: not evaluated at gates

    gov.ok(gov.state("card-written", "audit"))
    audit = gov.ok(_review(gov))
    assert audit["warnings"] == []
    recorded = _policy_evidence(gov)
    assert len(recorded) == 1 and recorded[0]["passed"] is False
    assert recorded[0]["summary"]["rules_failed"] == 1 and recorded[0]["summary"]["blocked"] is False

    gov.ok(gov.state("card-written", "warn"))
    warned = gov.ok(_review(gov))
    assert warned["warnings"] == ["card-written/rule-one: card-written says no."]

    gov.enforce("card-written")
    blocked = _review(gov)
    assert blocked.status_code == 409
    message = blocked.json()["error"]["message"]
    assert "cannot move to 'review'" in message and "card-written/rule-one: card-written says no." in message
    refusal = [e for e in gov.events("model", "version.promote") if e["outcome"] == "failed"]
    assert "card-written/rule-one" in refusal[-1]["details"]["reason"]

    gov.ok(gov.state("card-written", "review"))
    assert _review(gov).status_code == 409  # review: still enforced while due

    gov.ok(gov.state("card-written", "retired"))
    retired = gov.ok(_review(gov))
    assert retired["warnings"] == [] and len(_policy_evidence(gov)) == 2  # audit and warn only

    # The policy passes once the card is written, and says so in the evidence.
    gov.ok(gov.state("card-written", "draft"))
    gov.enforce("card-written")
    card = {"fields": {"limitations": "Not for applicants under 21."}}
    gov.ok(gov.client.patch(f"/api/v1/models/{MODEL}/versions/1.0.0/card", json=card, headers=gov.owner))
    gov.ok(gov.promote("1.0.0", "review"))
    latest = _policy_evidence(gov)[0]
    assert latest["passed"] is True and latest["summary"]["rules_passed"] == 1


def test_an_enforced_fairness_policy_blocks_production_until_a_waiver(gov: Gov) -> None:
    """The demo's story: the promotion is blocked naming the fairness rule; a 30-day waiver lets it pass."""
    gov.create(FAIRNESS)
    gov.enforce("high-risk-fairness")
    gov.to_approved("1.0.0")
    gov.fairness("1.0.0", (50, 20))  # selection rates 0.5 and 0.2: disparate impact 0.4
    blocked = gov.promote("1.0.0", "production")
    assert blocked.status_code == 409
    message = blocked.json()["error"]["message"]
    assert "high-risk-fairness/disparate-impact: Disparate impact must be at least 0.8." in message
    assert "fairness-assessed" not in message  # the assessment exists and is recent
    # Only a holder of policy:approve in the model's team grants it; the model owner cannot.
    body = {"rule": "disparate-impact", "model": MODEL, "days": 30, "reason": "Retraining under way; see RISK-12."}
    assert gov.post("/policies/high-risk-fairness/waivers", body, gov.owner).status_code == 403
    waiver = gov.ok(gov.post("/policies/high-risk-fairness/waivers", body), 201)
    assert waiver["status"] == "active" and waiver["approved_by"] == "user:rosa"
    promoted = gov.ok(gov.promote("1.0.0", "production"))
    assert promoted["stage"] == "production"
    evidence = _policy_evidence(gov)[0]
    assert evidence["summary"]["rules_waived"] == 1 and evidence["summary"]["rules_passed"] == 1
    history = gov.ok(gov.client.get(f"/api/v1/models/{MODEL}/history?limit=50", headers=gov.owner))["items"]
    actions = [(h["action"], h["outcome"]) for h in reversed(history)]
    promote_failed = actions.index(("version.promote", "failed"))
    granted = actions.index(("waiver.grant", "allowed"))
    promoted_at = actions.index(("version.promote", "allowed"), granted)
    assert promote_failed < granted < promoted_at
    grant = next(h for h in history if h["action"] == "waiver.grant")
    assert grant["details"]["rule"] == "disparate-impact" and grant["details"]["days"] == 30


def test_registration_and_production_download_gates(gov: Gov) -> None:
    register = policy(
        "no-nines",
        expr="facts.version.version != '9.9.9'",
        match="facts.event.kind == 'register'",
    )
    gov.create(register)
    gov.enforce("no-nines")
    refused = gov.version("9.9.9")
    assert refused.status_code == 409 and "no-nines/rule-one" in refused.json()["error"]["message"]
    failed = [e for e in gov.events("model", "version.create") if e["outcome"] == "failed"]
    assert failed and failed[-1]["details"]["version"] == "9.9.9"
    warn = policy("name-it", expr="facts.version.framework != null", match="facts.event.kind == 'register'")
    gov.create(warn)
    gov.ok(gov.state("name-it", "warn"))
    created = gov.ok(gov.version("1.0.0"), 201)
    assert created["warnings"] == ["name-it/rule-one: name-it says no."]

    download = policy("quiet-model", expr="facts.incidents.open == 0", match="facts.event.kind == 'download'")
    gov.create(download)
    gov.enforce("quiet-model")
    gov.to_approved("2.0.0")
    gov.ok(gov.promote("2.0.0", "production"))
    url = f"/api/v1/models/{MODEL}/versions/2.0.0/artifacts/model.pkl"
    assert gov.client.get(url, headers=gov.owner).status_code == 200
    incident = {"title": "Drift", "type": "performance", "severity": "SEV3", "models": [{"model": MODEL}]}
    gov.ok(gov.client.post("/api/v1/incidents", json=incident, headers=gov.owner), 201)
    blocked = gov.client.get(url, headers=gov.owner)
    assert blocked.status_code == 409 and "quiet-model/rule-one" in blocked.json()["error"]["message"]
    downloads = [e["outcome"] for e in gov.events("model", "artifact.download")]
    assert downloads == ["allowed", "failed"]


def test_evaluation_errors_fail_closed_and_say_why(gov: Gov) -> None:
    gov.ok(gov.version("1.0.0"), 201)
    gov.create(policy("divides", expr="10 / facts.approvals.count > 1"))
    gov.enforce("divides")
    blocked = _review(gov)
    assert blocked.status_code == 409
    assert (
        "divides/rule-one: divides says no. (could not be evaluated: divides by zero)"
        in blocked.json()["error"]["message"]
    )
    gov.ok(gov.state("divides", "retired"))
    gov.create(policy("missing-metric", expr="facts.version.metrics.auc > 0.7"))
    gov.enforce("missing-metric")
    blocked = _review(gov)
    assert "reads 'auc', which is missing" in blocked.json()["error"]["message"]
    gov.ok(gov.state("missing-metric", "retired"))
    gov.create(policy("bad-match", match="facts.model.risk_tier > 'a' && facts.version.stage == 'review'"))
    gov.ok(gov.client.put(f"/api/v1/models/{MODEL}/risk-tier", json={"risk_tier": None}, headers=gov.risk))
    gov.enforce("bad-match")
    blocked = _review(gov)
    assert blocked.status_code == 409 and "the match condition could not be evaluated" in blocked.text


def test_dry_run_shows_what_a_policy_would_decide_for_every_model(gov: Gov) -> None:
    other = {"name": "fraud-detector", "team": "credit-risk", "domain": "other"}
    gov.ok(gov.client.post("/api/v1/models", json=other, headers=gov.owner), 201)
    gov.ok(gov.client.put("/api/v1/models/fraud-detector/risk-tier", json={"risk_tier": "high"}, headers=gov.risk))
    gov.ok(gov.version("1.0.0"), 201)
    gov.ok(gov.version("2.0.0"), 201)
    gov.ok(gov.version("1.0.0", model="fraud-detector"), 201)
    gov.fairness("2.0.0", (50, 45))  # 0.9: passes
    gov.fairness("1.0.0", (50, 20), model="fraud-detector")  # 0.4: fails
    gov.create(FAIRNESS)
    before = len(gov.events("model")) + len(gov.events("policy"))
    # Today nothing is in production: it applies to none.
    now = gov.ok(gov.post("/policies/high-risk-fairness/dry-run", {}, gov.viewer))
    assert (now["evaluated"], now["applies"], now["items"]) == (3, 0, [])
    result = gov.ok(gov.post("/policies/high-risk-fairness/dry-run", {"stage": "production"}, gov.viewer))
    assert (result["evaluated"], result["applies"], result["passed"], result["failed"], result["errors"]) == (
        3,
        3,
        1,
        1,
        1,
    )
    by_version = {(i["model"], i["version"]): i for i in result["items"]}
    assert by_version[(MODEL, "2.0.0")]["outcome"] == "passed"
    failing = by_version[("fraud-detector", "1.0.0")]
    assert failing["outcome"] == "failed"
    assert [r["status"] for r in failing["rules"]] == ["passed", "failed"]
    missing = by_version[(MODEL, "1.0.0")]
    assert missing["outcome"] == "error"  # no assessment: disparate impact is null, which fails closed
    assert [r["status"] for r in missing["rules"]] == ["failed", "error"]
    only = gov.ok(gov.post("/policies/high-risk-fairness/dry-run", {"stage": "production", "model": "fraud-detector"}))
    assert [i["model"] for i in only["items"]] == ["fraud-detector"]
    # A waiver shows in the dry run too; nothing was recorded by any of this.
    assert len(gov.events("model")) + len(gov.events("policy")) == before
    # Another team's owner sees none of these models.
    assert (
        gov.ok(gov.post("/policies/high-risk-fairness/dry-run", {"stage": "production"}, gov.outsider))["evaluated"]
        == 0
    )


def test_the_starter_pack_installs_as_drafts_and_dry_runs(gov: Gov) -> None:
    installed = gov.ok(gov.post("/policies/pack"), 201)
    assert len(installed["created"]) == 6 and installed["skipped"] == []
    assert gov.ok(gov.post("/policies/pack"), 201) == {"created": [], "skipped": installed["created"]}
    listed = gov.ok(gov.client.get("/api/v1/policies", headers=gov.viewer))
    assert {p["state"] for p in listed} == {"draft"}
    gov.to_approved("1.0.0")
    for policy_id in installed["created"]:
        result = gov.ok(gov.post(f"/policies/{policy_id}/dry-run", {"stage": "production"}))
        assert result["evaluated"] == 1
    integrity = gov.ok(gov.post("/policies/high-risk-integrity/dry-run", {"stage": "production"}))
    assert integrity["items"][0]["outcome"] == "passed"  # clean file, signature verified with the server's key
    approvals = gov.ok(gov.post("/policies/high-risk-approvals/dry-run", {"stage": "production"}))
    assert approvals["items"][0]["rules"][0]["status"] == "failed"  # one approval of two


def test_waivers_are_listed_revoked_and_refused_when_wrong(gov: Gov) -> None:
    gov.create(FAIRNESS)
    body = {"rule": "disparate-impact", "model": MODEL, "days": 10, "reason": "Known issue, fix in flight."}
    waiver = gov.ok(gov.post("/policies/high-risk-fairness/waivers", body), 201)
    assert gov.post("/policies/high-risk-fairness/waivers", {**body, "rule": "nope"}).status_code == 422
    assert gov.post("/policies/high-risk-fairness/waivers", {**body, "days": 0}).status_code == 422
    assert gov.post("/policies/high-risk-fairness/waivers", {**body, "model": "ghost"}).status_code == 404
    assert gov.post("/policies/ghost/waivers", body).status_code == 404
    listed = gov.ok(gov.client.get("/api/v1/waivers?status=active", headers=gov.viewer))
    assert [w["id"] for w in listed] == [waiver["id"]]
    assert gov.ok(gov.client.get("/api/v1/waivers", headers=gov.outsider)) == []
    revoked = gov.ok(gov.post(f"/waivers/{waiver['id']}/revoke", {"reason": "Fixed early."}))
    assert revoked["status"] == "revoked" and revoked["revoked_by"] == "user:rosa"
    assert gov.post(f"/waivers/{waiver['id']}/revoke", {"reason": "again"}).status_code == 409
    assert gov.post("/waivers/999/revoke", {"reason": "none"}).status_code == 404
    assert [e["action"] for e in gov.events("model") if e["action"].startswith("waiver.")] == [
        "waiver.grant",
        "waiver.revoke",
    ]


def test_bad_input_is_a_clear_4xx_never_a_500(gov: Gov) -> None:
    c = gov.client
    assert c.get("/api/v1/policies/ghost", headers=gov.viewer).status_code == 404
    assert c.get("/api/v1/policies?state=bogus", headers=gov.viewer).status_code == 422
    gov.create(policy())
    assert gov.state("card-written", "bogus").status_code == 422
    not_allowed = gov.state("card-written", "review")
    assert not_allowed.status_code == 422 and "From 'draft'" in not_allowed.json()["error"]["message"]
    assert gov.state("card-written", "draft").status_code == 409
    assert gov.post("/policies/card-written/approve").status_code == 409
    assert gov.post("/policies/card-written/dry-run", {"model": "ghost"}).status_code == 404
    assert gov.post("/policies/card-written/dry-run", {"version": 9}).status_code == 404
    assert gov.post("/policies", policy()).status_code == 409
    assert gov.post("/policies/parse", {"text": "id: [unclosed"}).status_code == 422
    assert gov.post("/policies/parse", {"text": "- a\n- list"}).status_code == 422
    assert gov.post("/policies/parse", {"text": "id: x\n"}).status_code == 422
    assert c.post("/api/v1/policies", content=b"{not json", headers=gov.risk).status_code == 422
    # Permissions: reading needs policy:read, writing policy:write, in the organisation.
    assert gov.post("/policies", policy("mine"), gov.owner).status_code == 403
    assert gov.state("card-written", "audit", gov.owner).status_code == 403
    assert c.get("/api/v1/policies").status_code == 401


def test_policies_from_yaml_text_and_the_facts_reference(gov: Gov) -> None:
    text = """
id: yaml-policy
title: From YAML
owner: risk-office
rationale:
  text: Because.
  references: [GDPR Art. 6]
match: facts.data.personal
rules:
  - id: legal-basis
    expr: size(facts.data.missing_legal_basis) == 0
    message: Record a legal basis.
"""
    created = gov.ok(gov.post("/policies/parse", {"text": text}), 201)
    assert created["id"] == "yaml-policy" and created["document"]["rationale"]["references"] == ["GDPR Art. 6"]
    again = gov.ok(gov.post("/policies/parse", {"text": text.replace("Because.", "Because, again.")}), 201)
    assert again["version"] == 2
    bad = gov.post("/policies/parse", {"text": text.replace("missing_legal_basis", "missing_basis")})
    assert bad.status_code == 422 and bad.json()["error"]["details"]["errors"][0]["column"] == 17
    reference = gov.ok(gov.client.get("/api/v1/policies/facts", headers=gov.viewer))
    paths = {f["path"] for f in reference}
    assert {"facts.evidence.fairness.disparate_impact", "facts.datasets[].legal_basis", "facts.owners_trained"} <= paths
