"""REST routes for training records (``/api/v1/training``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from charter.security.permissions import Permission
from charter.server.deps import Context, Needs
from charter.training import service
from charter.training.schemas import CompletionCreate, CompletionRead, CourseCreate, CourseRead, TrainingStatus

router = APIRouter(prefix="/api/v1/training", tags=["training"])
P = Permission


@router.post("/courses", response_model=CourseRead, status_code=status.HTTP_201_CREATED)
def create_course(data: CourseCreate, ctx: Context = Needs(P.COMPLIANCE_WRITE)) -> CourseRead:
    """A course; `required` ones must be held by every owner and approver of a model (the `owners_trained` fact)."""
    return service.create_course(ctx.session, ctx.principal, data)


@router.get("/courses", response_model=list[CourseRead])
def list_courses(ctx: Context = Needs(P.COMPLIANCE_READ)) -> list[CourseRead]:
    return service.list_courses(ctx.session, ctx.principal)


@router.post("/completions", response_model=CompletionRead, status_code=status.HTTP_201_CREATED)
def record_completion(data: CompletionCreate, ctx: Context = Needs(P.COMPLIANCE_WRITE)) -> CompletionRead:
    """Record that a user completed a course (expiry: the course's validity unless given)."""
    return service.record_completion(ctx.session, ctx.principal, data)


@router.get("/completions", response_model=list[CompletionRead])
def list_completions(
    ctx: Context = Needs(P.USER_READ),
    person: Annotated[str | None, Query(max_length=64)] = None,
    course: Annotated[str | None, Query(max_length=64)] = None,
    current: bool = False,
) -> list[CompletionRead]:
    """Everyone's completions, newest first (`current=true`: only those not expired)."""
    return service.list_completions(ctx.session, ctx.principal, person=person, course=course, current_only=current)


@router.get("/me", response_model=TrainingStatus)
def my_training(ctx: Context = Needs(P.SELF)) -> TrainingStatus:
    """Your own completions and the required courses you hold no current completion of."""
    return service.my_training(ctx.session, ctx.principal)
