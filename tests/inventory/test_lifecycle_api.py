"""The inventory through the REST API: registration, visibility, lineage, the lifecycle and four eyes."""

from __future__ import annotations

from tests.inventory.conftest import Team, sklearn_model_bytes


def test_register_list_filter_and_team_visibility(team: Team) -> None:
    team.model("credit-scoring", tags=["retail"])
    team.model("fraud-detector", domain="other", purpose="Flag card fraud")
    c = team.client
    names = [m["name"] for m in c.get("/api/v1/models", headers=team.owner).json()["items"]]
    assert names == ["credit-scoring", "fraud-detector"]
    assert [m["name"] for m in c.get("/api/v1/models?q=fraud", headers=team.owner).json()["items"]] == [
        "fraud-detector"
    ]
    assert [m["name"] for m in c.get("/api/v1/models?domain=credit", headers=team.owner).json()["items"]] == [
        "credit-scoring"
    ]
    assert [m["name"] for m in c.get("/api/v1/models?tag=retail", headers=team.owner).json()["items"]] == [
        "credit-scoring"
    ]
    # Another team's owner sees none of them and cannot read one by name.
    assert c.get("/api/v1/models", headers=team.outsider).json()["items"] == []
    refused = c.get("/api/v1/models/credit-scoring", headers=team.outsider)
    assert refused.status_code == 403
    # ... nor register a model in a team it does not belong to.
    body = {"name": "sneaky", "team": "credit-risk"}
    assert c.post("/api/v1/models", json=body, headers=team.outsider).status_code == 403
    # Pagination: a page of one, then the next.
    first = c.get("/api/v1/models?limit=1", headers=team.owner).json()
    second = c.get(f"/api/v1/models?limit=1&cursor={first['next_cursor']}", headers=team.owner).json()
    assert [m["name"] for m in first["items"] + second["items"]] == ["credit-scoring", "fraud-detector"]
    assert second["next_cursor"] is None


def test_duplicate_names_and_bad_input_are_clear_4xx(team: Team) -> None:
    team.model("credit-scoring")
    c = team.client
    again = c.post("/api/v1/models", json={"name": "credit-scoring", "team": "credit-risk"}, headers=team.owner)
    assert again.status_code == 409
    assert "already exists" in again.json()["error"]["message"]
    bad = c.post("/api/v1/models", json={"name": "Bad Name!", "team": "credit-risk"}, headers=team.owner)
    assert bad.status_code == 422
    assert c.post("/api/v1/models", json={"name": "x1", "team": "nope"}, headers=team.owner).status_code == 404
    team.version("credit-scoring", "1.0.0")
    dup = c.post("/api/v1/models/credit-scoring/versions", json={"version": "1.0.0"}, headers=team.owner)
    assert dup.status_code == 409
    bad_version = c.post("/api/v1/models/credit-scoring/versions", json={"version": "v1..0"}, headers=team.owner)
    assert bad_version.status_code == 422


def test_datasets_need_a_legal_basis_for_personal_data_and_appear_as_lineage(team: Team) -> None:
    c = team.client
    personal = {"name": "applications-2024", "team": "credit-risk", "classification": "personal"}
    refused = c.post("/api/v1/datasets", json=personal, headers=team.owner)
    assert refused.status_code == 422
    assert "legal_basis" in refused.json()["error"]["message"]
    created = c.post(
        "/api/v1/datasets",
        json={**personal, "legal_basis": "contract", "retention_days": 730, "location": "s3://lake/apps/2024"},
        headers=team.owner,
    )
    assert created.status_code == 201, created.text
    c.post("/api/v1/datasets", json={"name": "holdout-2024", "team": "credit-risk"}, headers=team.owner)
    team.model()
    version = team.version(
        "credit-scoring",
        "1.0.0",
        datasets=[
            {"dataset": "applications-2024", "role": "training"},
            {"dataset": "holdout-2024", "role": "evaluation"},
        ],
    )
    assert version["datasets"] == [
        {"dataset": "applications-2024", "role": "training", "classification": "personal"},
        {"dataset": "holdout-2024", "role": "evaluation", "classification": "internal"},
    ]
    listed = c.get("/api/v1/datasets?classification=personal", headers=team.reviewer).json()["items"]
    assert [d["name"] for d in listed] == ["applications-2024"]
    missing = c.post(
        "/api/v1/models/credit-scoring/versions",
        json={"version": "2.0.0", "datasets": [{"dataset": "nowhere"}]},
        headers=team.owner,
    )
    assert missing.status_code == 404


def test_the_lifecycle_enforces_transitions_roles_and_four_eyes(team: Team) -> None:
    team.model()
    team.version("credit-scoring", "1.0.0")
    assert team.upload("credit-scoring", "1.0.0", "model.pkl", sklearn_model_bytes()).status_code == 201
    # Not a lifecycle move: draft cannot jump to production.
    jump = team.promote("credit-scoring", "1.0.0", "production", team.owner)
    assert jump.status_code == 422
    assert "may move to: review, retired" in jump.json()["error"]["message"]
    assert team.promote("credit-scoring", "1.0.0", "review", team.owner, "ready").status_code == 200
    # The author holds version:approve too, but four eyes forbid approving one's own version.
    own = team.promote("credit-scoring", "1.0.0", "approved", team.owner)
    assert own.status_code == 403
    assert "Four eyes" in own.json()["error"]["message"]
    # The outsider holds no role in the model's team.
    assert team.promote("credit-scoring", "1.0.0", "approved", team.outsider).status_code == 403
    approved = team.promote("credit-scoring", "1.0.0", "approved", team.reviewer, "checked the evaluation")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["stage"] == "approved"
    assert [(t["from_stage"], t["to_stage"], t["actor"]) for t in body["transitions"]] == [
        ("draft", "review", "user:olivia"),
        ("review", "approved", "user:rita"),
    ]
    assert body["transitions"][1]["comment"] == "checked the evaluation"
    # A reviewer (no model:write) cannot deploy; the owner can.
    assert team.promote("credit-scoring", "1.0.0", "production", team.reviewer).status_code == 403
    assert team.promote("credit-scoring", "1.0.0", "production", team.owner).json()["stage"] == "production"
    # Files are frozen after draft.
    late = team.upload("credit-scoring", "1.0.0", "extra.pkl", sklearn_model_bytes())
    assert late.status_code == 409
    # Filter the inventory by stage.
    in_production = team.client.get("/api/v1/models?stage=production", headers=team.owner).json()["items"]
    assert [m["name"] for m in in_production] == ["credit-scoring"]


def test_history_shows_every_change_including_refusals(team: Team) -> None:
    team.model()
    team.version("credit-scoring", "1.0.0")
    team.upload("credit-scoring", "1.0.0", "model.pkl", sklearn_model_bytes())
    team.promote("credit-scoring", "1.0.0", "review", team.owner)
    team.promote("credit-scoring", "1.0.0", "approved", team.owner)  # refused: four eyes
    team.promote("credit-scoring", "1.0.0", "approved", team.reviewer)
    items = team.client.get("/api/v1/models/credit-scoring/history", headers=team.reviewer).json()["items"]
    actions = [(e["action"], e["outcome"], e["actor"]) for e in reversed(items)]
    assert actions == [
        ("model.register", "allowed", "user:olivia"),
        ("version.create", "allowed", "user:olivia"),
        ("artifact.upload", "allowed", "user:olivia"),
        ("version.promote", "allowed", "user:olivia"),
        ("version.promote", "denied", "user:olivia"),
        ("version.approve", "allowed", "user:rita"),
    ]
    assert "Four eyes" in items[1]["details"]["reason"]


def test_diff_names_what_changed_between_versions(team: Team) -> None:
    team.model()
    team.version("credit-scoring", "1.0.0", metrics={"auc": 0.81, "accuracy": 0.77}, framework="scikit-learn 1.5")
    team.version("credit-scoring", "1.1.0", metrics={"auc": 0.84, "accuracy": 0.77}, framework="scikit-learn 1.6")
    team.upload("credit-scoring", "1.0.0", "model.pkl", sklearn_model_bytes())
    team.upload("credit-scoring", "1.1.0", "model.pkl", sklearn_model_bytes() + b"")
    team.upload("credit-scoring", "1.1.0", "README.md", b"# notes\n")
    diff = team.client.get("/api/v1/models/credit-scoring/diff?old=1.0.0&new=1.1.0", headers=team.owner).json()
    assert diff["metrics"] == [{"field": "auc", "old": 0.81, "new": 0.84}]
    assert {"field": "framework", "old": "scikit-learn 1.5", "new": "scikit-learn 1.6"} in diff["metadata"]
    assert [c["field"] for c in diff["artifacts"]] == ["README.md"]
    assert diff["artifacts"][0]["old"] is None


def test_risk_tier_is_set_by_the_risk_officer_not_the_owner(team: Team, factory) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import PASSWORD

    team.model()
    c = team.client
    assert (
        c.put("/api/v1/models/credit-scoring/risk-tier", json={"risk_tier": "high"}, headers=team.owner).status_code
        == 403
    )
    changed = c.patch("/api/v1/models/credit-scoring", json={"intended_use": "Pre-screening only"}, headers=team.owner)
    assert changed.json()["intended_use"] == "Pre-screening only"
    assert c.patch("/api/v1/models/credit-scoring", json={"risk_tier": "high"}, headers=team.owner).status_code == 422
    factory.user("rosa", "risk_officer")
    token = c.post("/api/v1/auth/token", data={"username": "rosa", "password": PASSWORD}).json()["access_token"]
    tiered = c.put(
        "/api/v1/models/credit-scoring/risk-tier",
        json={"risk_tier": "high"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert tiered.status_code == 200 and tiered.json()["risk_tier"] == "high"
    high = c.get("/api/v1/models?risk_tier=high", headers=team.owner).json()["items"]
    assert [m["name"] for m in high] == ["credit-scoring"]
