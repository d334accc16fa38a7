"""CrossGuard wiring for the validators (kept apart from __main__ so tests can import it)."""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import (
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from piano_policies.validators import ALL, ResourceView, Validator


def adapt(fn: Validator) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """Turn a pure validator into a CrossGuard resource validation callback."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        view = ResourceView(
            type=args.resource_type,
            name=args.name,
            props=args.props,
            protect=bool(args.opts.protect),
            stack=ResourceView.stack_from_urn(args.urn),
        )
        for message in fn(view):
            report_violation(message, args.urn)

    return validate


def policies() -> list[Policy]:
    return [
        ResourceValidationPolicy(name=name, description=description, validate=adapt(fn))
        for name, (description, fn) in ALL.items()
    ]
