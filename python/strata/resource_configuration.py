"""`ResourceConfiguration`: a model's resource needs. Kept as metadata on the `Model` object;
Strata does not profile or schedule by it (Azure uses it for no-code deployment)."""

from __future__ import annotations

__all__ = ["ResourceConfiguration"]


class ResourceConfiguration:
    def __init__(self, cpu: float | None = None, memory_in_gb: float | None = None, gpu: int | None = None) -> None:
        self.cpu = cpu
        self.memory_in_gb = memory_in_gb
        self.gpu = gpu

    def serialize(self) -> dict[str, float | int | None]:
        return {"cpu": self.cpu, "memoryInGB": self.memory_in_gb, "gpu": self.gpu}
