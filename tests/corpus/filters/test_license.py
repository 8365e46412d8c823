"""License detection on the license files of installed packages, and on variants derived from them."""
from __future__ import annotations

import re
from importlib.metadata import distribution

import pytest

from corpus.filters.license import (
    LicenseExpressionError,
    LicenseVerdict,
    detect_license_text,
    is_license_file_name,
    is_permissive,
    license_from_metadata,
    normalize_license_name,
    parse_license_expression,
    repository_license,
)


def license_file(dist: str, name: str) -> str:
    """The text of an installed distribution's license file (``licenses/NAME`` or ``NAME``)."""
    files = distribution(dist).files or []
    matches = [f for f in files if f.name == name and ".dist-info" in f.parts[0]]
    assert matches, f"{dist} has no license file {name}"
    return matches[0].read_text()


def metadata(dist: str) -> str:
    return distribution(dist).read_text("METADATA")


@pytest.mark.parametrize(
    ("dist", "name", "expected"),
    [
        ("click", "LICENSE.txt", "BSD-3-Clause"),
        ("jinja2", "LICENSE.txt", "BSD-3-Clause"),
        ("xxhash", "LICENSE", "BSD-2-Clause"),
        ("pygments", "LICENSE", "BSD-2-Clause"),
        ("packaging", "LICENSE.BSD", "BSD-2-Clause"),
        ("six", "LICENSE", "MIT"),
        ("pytest", "LICENSE", "MIT"),
        ("requests", "LICENSE", "Apache-2.0"),
        ("packaging", "LICENSE.APACHE", "Apache-2.0"),
        ("dagster", "COPYING", "Apache-2.0"),  # the short "Licensed under the Apache License" notice
        ("Unidecode", "LICENSE", "GPL-2.0"),
        ("inflate64", "COPYING", "LGPL-2.1"),
        ("certifi", "LICENSE", "MPL-2.0"),
        ("tqdm", "LICENCE", "MPL-2.0 AND MIT"),
    ],
)
def test_installed_license_files_are_recognised(dist, name, expected):
    assert detect_license_text(license_file(dist, name)) == expected


def test_a_pointer_file_names_no_license():
    assert detect_license_text(license_file("packaging", "LICENSE")) is None


def without_sentence(text: str, phrase: str) -> str:
    """The text with the paragraph (list item) containing ``phrase`` removed."""
    paragraphs = re.split(r"\n\s*\n", text)
    kept = [p for p in paragraphs if phrase not in " ".join(p.split())]
    assert len(kept) == len(paragraphs) - 1, f"{phrase!r} not found exactly once"
    return "\n\n".join(kept)


def test_bsd3_without_its_endorsement_clause_is_bsd2():
    bsd3 = license_file("click", "LICENSE.txt")
    assert detect_license_text(without_sentence(bsd3, "endorse or promote")) == "BSD-2-Clause"


def test_bsd_with_an_advertising_clause_is_bsd4_not_permissive():
    bsd3 = license_file("click", "LICENSE.txt")
    bsd4 = bsd3.replace("3.", "4. All advertising materials mentioning features or use of this software must "
                              "display the following acknowledgement: this product includes software.\n\n3.", 1)
    assert detect_license_text(bsd4) == "BSD-4-Clause"
    assert not is_permissive("BSD-4-Clause")


def test_mit_variants_are_told_apart():
    mit = license_file("six", "LICENSE")
    assert detect_license_text(without_sentence(mit, "shall be included in all copies")) == "MIT-0"
    x11 = mit + ("\n\nExcept as contained in this notice, the name of the authors shall not be used in "
                 "advertising or otherwise to promote the sale, use or other dealings in this Software "
                 "without prior written authorization.\n")
    assert detect_license_text(x11) == "X11"
    isc_grant = ("Permission to use, copy, modify, and/or distribute this software for any purpose with or "
                 "without fee is hereby granted")
    assert detect_license_text(isc_grant + ", provided that the above copyright notice and this permission "
                                           "notice appear in all copies.") == "ISC"
    assert detect_license_text(isc_grant + ".") == "0BSD"


@pytest.mark.parametrize("prefix", ["# ", " * ", "// ", "-- "])
def test_license_in_a_comment_header_is_recognised(prefix):
    bsd3 = license_file("click", "LICENSE.txt")
    commented = "\n".join(prefix + line for line in bsd3.splitlines())
    assert detect_license_text(commented) == "BSD-3-Clause"


def test_gnu_family_notices_and_titles():
    gpl3_notice = ("This program is free software: you can redistribute it and/or modify it under the terms of "
                   "the GNU General Public License as published by the Free Software Foundation, either "
                   "version 3 of the License, or (at your option) any later version.")
    assert detect_license_text(gpl3_notice) == "GPL-3.0-or-later"
    lgpl_notice = gpl3_notice.replace("GNU General", "GNU Lesser General").replace(", or (at your", ". (at your")
    assert detect_license_text(lgpl_notice) == "LGPL-3.0"
    # The LGPL text mentions the GPL by name; only its own title counts.
    assert detect_license_text(license_file("inflate64", "COPYING")) == "LGPL-2.1"


def test_nothing_recognisable_is_none():
    assert detect_license_text("All rights reserved. Do not copy.") is None
    assert detect_license_text("") is None


@pytest.mark.parametrize(
    ("name", "spdx"),
    [
        ("mit", "MIT"), ("MIT License", "MIT"), ("apache-2.0", "Apache-2.0"),
        ("Apache License, Version 2.0", "Apache-2.0"), ("Apache 2.0", "Apache-2.0"),
        ("bsd-3-clause", "BSD-3-Clause"), ("New BSD License", "BSD-3-Clause"), ("3-Clause BSD License", "BSD-3-Clause"),
        ("bsd-2-clause", "BSD-2-Clause"), ("Simplified BSD", "BSD-2-Clause"),
        ("gpl-2.0", "GPL-2.0"), ("GPLv2+", "GPL-2.0-or-later"), ("lgpl-2.1", "LGPL-2.1"), ("agpl-3.0", "AGPL-3.0"),
        ("GNU General Public License v2 or later (GPLv2+)", "GPL-2.0-or-later"),
        ("mpl-2.0", "MPL-2.0"), ("isc", "ISC"), ("unlicense", "Unlicense"),
        ("BSD", None), ("BSD License", None), ("Apache Software License", None), ("Proprietary", None), ("", None),
    ],
)
def test_license_names_normalise_to_spdx(name, spdx):
    assert normalize_license_name(name) == spdx


def test_package_metadata_is_read_in_order_of_precision():
    assert license_from_metadata(metadata("packaging")) == "Apache-2.0 OR BSD-2-Clause"  # License-Expression
    assert license_from_metadata(metadata("Unidecode")) == "GPL-2.0-or-later"  # classifier: 'License: GPL' is vague
    assert license_from_metadata(metadata("six")) == "MIT"
    assert license_from_metadata(metadata("jinja2")) is None  # only the ambiguous "BSD License" classifier
    assert license_from_metadata("Metadata-Version: 2.1\nLicense: mit OR apache-2.0\n") == "MIT OR Apache-2.0"


def test_only_the_four_permissive_licenses_pass():
    for allowed in ("MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "Apache-2.0 OR BSD-2-Clause", "MIT AND Apache-2.0"):
        assert is_permissive(allowed), allowed
    for refused in ("GPL-2.0", "LGPL-2.1", "AGPL-3.0", "ISC", "X11", "MIT-0", "BSD-4-Clause", "MIT AND MPL-2.0",
                    "Apache-2.0 WITH LLVM-exception", "", None):
        assert not is_permissive(refused), refused


def test_license_file_names():
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING", "license", "LICENSE-MIT", "COPYING.LESSER.3"):
        assert is_license_file_name(name), name
    for name in ("license.py", "licenses", "MYLICENSE", "README.md", "NOTICE", "copying.c"):
        assert not is_license_file_name(name), name


def test_repository_verdicts_and_their_drop_reasons():
    assert repository_license({}) == LicenseVerdict(None, "no license file")
    assert repository_license({}).drop_reason == "license:none"
    pointer_only = repository_license({"LICENSE": license_file("packaging", "LICENSE")})
    assert pointer_only.drop_reason == "license:unknown" and not pointer_only.permitted
    gpl = repository_license({"LICENSE": license_file("Unidecode", "LICENSE")})
    assert gpl.drop_reason == "license:GPL-2.0" and not gpl.permitted
    # a pointer file beside two recognised ones: the recognised ones decide, and both must be allowed
    dual = repository_license({p: license_file("packaging", p) for p in ("LICENSE", "LICENSE.APACHE", "LICENSE.BSD")})
    assert dual.license == "Apache-2.0 AND BSD-2-Clause" and dual.permitted
    mixed = repository_license({"LICENSE": license_file("six", "LICENSE"), "COPYING": license_file("Unidecode", "LICENSE")})
    assert mixed.drop_reason == "license:GPL-2.0"


def test_metadata_is_only_secondary_evidence():
    from_metadata = repository_license({}, {"x.dist-info/METADATA": metadata("six")})
    assert from_metadata.license == "MIT" and from_metadata.evidence == "package metadata: x.dist-info/METADATA"
    file_wins = repository_license({"LICENSE": license_file("Unidecode", "LICENSE")}, {"METADATA": metadata("six")})
    assert file_wins.drop_reason == "license:GPL-2.0"
    vague = repository_license({}, {"METADATA": metadata("jinja2")})
    assert vague.drop_reason == "license:unknown"
    silent = repository_license({}, {"METADATA": "Metadata-Version: 2.1\nName: x\n"})
    assert silent.drop_reason == "license:none"


@pytest.mark.parametrize(
    ("expression", "branches"),
    [
        ("MIT", [("MIT",)]),
        ("MIT OR GPL-3.0", [("MIT",), ("GPL-3.0",)]),
        ("MIT AND GPL-3.0", [("MIT", "GPL-3.0")]),
        # AND binds tighter than OR
        ("MIT AND Apache-2.0 OR GPL-3.0", [("MIT", "Apache-2.0"), ("GPL-3.0",)]),
        ("GPL-3.0 OR MIT AND Apache-2.0", [("GPL-3.0",), ("MIT", "Apache-2.0")]),
        # parentheses override it, and AND distributes over the alternatives inside them
        ("MIT AND (Apache-2.0 OR GPL-3.0)", [("MIT", "Apache-2.0"), ("MIT", "GPL-3.0")]),
        ("(MIT OR GPL-2.0) AND (BSD-3-Clause OR LGPL-2.1)",
         [("MIT", "BSD-3-Clause"), ("MIT", "LGPL-2.1"), ("GPL-2.0", "BSD-3-Clause"), ("GPL-2.0", "LGPL-2.1")]),
        ("((MIT))", [("MIT",)]),
        # WITH binds tightest: an exception belongs to the license before it
        ("GPL-2.0 WITH Classpath-exception-2.0 OR MIT", [("GPL-2.0 WITH Classpath-exception-2.0",), ("MIT",)]),
        ("mit or apache-2.0", [("mit",), ("apache-2.0",)]),  # operators in any case
    ],
)
def test_spdx_expressions_parse_into_their_alternatives(expression, branches):
    assert parse_license_expression(expression) == branches


@pytest.mark.parametrize("malformed", ["", "MIT OR", "AND MIT", "(MIT", "MIT)", "MIT GPL-3.0", "MIT WITH", "()",
                                       "MIT WITH OR"])
def test_malformed_spdx_expressions_are_errors_and_refused(malformed):
    with pytest.raises(LicenseExpressionError):
        parse_license_expression(malformed)
    assert not is_permissive(malformed)


@pytest.mark.parametrize(
    ("expression", "permitted", "reason"),
    [
        ("MIT OR GPL-3.0", True, "license:MIT OR GPL-3.0"),  # usable under MIT
        ("GPL-3.0 OR MIT", True, "license:GPL-3.0 OR MIT"),
        ("MIT AND GPL-3.0", False, "license:GPL-3.0"),
        ("GPL-3.0 OR AGPL-3.0", False, "license:GPL-3.0 OR AGPL-3.0"),
        ("MIT AND Apache-2.0 OR GPL-3.0", True, "license:MIT AND Apache-2.0 OR GPL-3.0"),
        ("MIT AND (Apache-2.0 OR GPL-3.0)", True, "license:MIT AND (Apache-2.0 OR GPL-3.0)"),
        ("MIT AND (GPL-2.0 OR LGPL-2.1)", False, "license:GPL-2.0 OR LGPL-2.1"),
        ("(MIT AND GPL-2.0 AND LGPL-2.1) OR AGPL-3.0", False, "license:(GPL-2.0 AND LGPL-2.1) OR AGPL-3.0"),
        ("GPL-2.0 WITH Classpath-exception-2.0 OR BSD-2-Clause", True,
         "license:GPL-2.0 WITH Classpath-exception-2.0 OR BSD-2-Clause"),
        ("Apache-2.0 WITH LLVM-exception", False, "license:Apache-2.0 WITH LLVM-exception"),
        ("MIT OR", False, "license:MIT OR"),
    ],
)
def test_a_repository_is_kept_when_some_alternative_is_all_permissive(expression, permitted, reason):
    verdict = LicenseVerdict(expression, "crafted", True)
    assert (verdict.permitted, verdict.drop_reason) == (permitted, reason)


def test_declared_expressions_are_canonical_only_when_they_parse():
    assert license_from_metadata("Metadata-Version: 2.1\nLicense-Expression: mit or (gpl-3.0 and bsd-3-clause)\n") \
        == "MIT OR (GPL-3.0 AND BSD-3-Clause)"
    assert license_from_metadata("Metadata-Version: 2.1\nLicense-Expression: MIT OR\n") is None
