"""Class names that differ only in case or surrounding spaces ("RBC", "rbc "): found and reported,
merged on request.

By default such spellings stay separate classes and each group is an error finding
(``classes kept apart``): ``check-data --strict`` fails, ``load`` warns and ``strict=True``
raises. Merging is not the default because the class list is what a model's head and label
indices are built on, and two spellings may be meant apart (rare, but a silent merge could not
be noticed later); the report makes an accidental split visible at once. ``merge_case=True``
(``--merge-case``) maps every spelling of a group to one class (``classes merged``): the
spelling declared in the class list, else the most frequent one, ties broken alphabetically.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from .check import APART, MERGED, Finding


def _key(name: str) -> str:
    return name.strip().casefold()


def near_duplicates(names: Sequence[str]) -> list[list[str]]:
    """Groups of 2 or more distinct ``names`` equal up to case and surrounding spaces, in order seen."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in dict.fromkeys(names):
        groups[_key(name)].append(name)
    return [g for g in groups.values() if len(g) > 1]


def resolve_classes(names: Sequence[str], counts: Mapping[str, int], merge: bool, file: str,
                    first_seen: Mapping[str, str] | None = None
                    ) -> tuple[list[str], dict[str, str], list[Finding]]:
    """Find near-duplicate class names and merge them when ``merge``.

    Args:
        names: the class list (declared, given or found); ``counts``: objects per spelling.
        file: the dataset path the findings cite; ``first_seen``: spelling -> the first
            annotation file it occurs in, named in the finding.

    Returns:
        The class list (merged spellings removed), the map from each merged-away spelling to
        its class, and one finding per group.
    """
    first_seen = first_seen or {}
    renamed: dict[str, str] = {}
    findings = []
    for group in near_duplicates(list(names) + list(counts)):
        target = min(group, key=lambda n: (n not in names, -counts.get(n, 0), n))
        spelled = ", ".join(f"{n!r} ({counts.get(n, 0)} objects"
                            + (f", first in {first_seen[n]})" if n in first_seen else ")")
                            for n in group)
        if merge:
            renamed.update((n, target) for n in group if n != target)
            findings.append(Finding(file, f"class names {spelled} differ only in case or "
                                    f"surrounding spaces; merged into {target!r}", action=MERGED))
        else:
            findings.append(Finding(file, f"class names {spelled} differ only in case or "
                                    "surrounding spaces; not merged (merge them with merge_case=True "
                                    "or ssdzoo check-data --merge-case)",
                                    action=APART))
    return [n for n in dict.fromkeys(names) if n not in renamed], renamed, findings

