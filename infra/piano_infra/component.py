"""Base class for the platform's typed components (pulumi/examples style)."""

from __future__ import annotations

from typing import Any

import pulumi


class PlatformComponent(pulumi.ComponentResource):
    """A ComponentResource whose children also wait for what the component was told to wait for.

    Pulumi does not pass a component's `depends_on` to its children, so a component built after
    the project's APIs are enabled would still let its children race them. `child_opts()` gives
    every child `parent=self` plus the component's own dependencies.
    """

    def __init__(self, type_: str, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_, name, None, opts)
        self._inherited_depends_on = opts.depends_on if opts else None

    def child_opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        extra = kwargs.pop("depends_on", None)
        inherited = pulumi.ResourceOptions(depends_on=self._inherited_depends_on)
        own = pulumi.ResourceOptions(parent=self, depends_on=extra, **kwargs)
        return pulumi.ResourceOptions.merge(inherited, own)
