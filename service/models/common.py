"""Shapes shared by every resource: pagination."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class PageParams(BaseModel):
    page: int = 1
    page_size: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    def of(self, items: list[T], total: int) -> Page[T]:
        """The answer for this page: its items and how many there are in all."""
        return Page(items=items, total=total, page=self.page, page_size=self.page_size)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int
