"""CrossGuard wiring for the validators (kept apart from __main__ so tests can import it)."""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import (
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from piano_policies.validators import (
    ALL,
    STACK_ALL,
    ResourceView,
    StackValidator,
    StackView,
    Validator,
)


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


def _view(r: PolicyResource) -> ResourceView:
    return ResourceView(
        type=r.resource_type,
        name=r.name,
        props=r.props,
        protect=bool(r.opts.protect),
        stack=ResourceView.stack_from_urn(r.urn),
    )


def adapt_stack(fn: StackValidator) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """Turn a pure stack validator into a CrossGuard stack validation callback.

    Which resource a property refers to comes from the engine's property dependencies: during a
    preview the referenced IDs are often still unknown, the dependencies never are.
    """

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        view = StackView(
            resources=[_view(r) for r in args.resources],
            property_dependencies={
                r.name: {
                    prop: [d.name for d in deps] for prop, deps in r.property_dependencies.items()
                }
                for r in args.resources
            },
        )
        for message in fn(view):
            report_violation(message, None)

    return validate


def policies() -> list[Policy]:
    resource: list[Policy] = [
        ResourceValidationPolicy(name=name, description=description, validate=adapt(fn))
        for name, (description, fn) in ALL.items()
    ]
    stack: list[Policy] = [
        StackValidationPolicy(name=name, description=description, validate=adapt_stack(fn))
        for name, (description, fn) in STACK_ALL.items()
    ]
    return resource + stack
