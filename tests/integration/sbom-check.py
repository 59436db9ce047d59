#!/usr/bin/env python3
"""sbom-check.py - checks SBOM documents against the specifications and
against the image they describe, independently of kiln's code.

  sbom-check.py spdx DOC.json          required fields of SPDX 2.3 (clauses 6-11)
  sbom-check.py cyclonedx DOC.json     required fields of CycloneDX 1.6
  sbom-check.py packages SPDX CDX DPKG  both documents list exactly the packages
                                       of DPKG (dpkg-query -W -f '${db:Status-Status}
                                       ${Package} ${Version} ${Architecture} ${source:Package}
                                       ${source:Version}\\n'), each with its purl
  sbom-check.py files SPDX CDX ROOT    the files no package owns (per ROOT's
                                       /var/lib/dpkg/info/*.list), with their hashes
  sbom-check.py os SPDX CDX ROOT       the OS component matches ROOT's os-release

Exits 1 with every problem found printed, 0 when there is none.
"""
import hashlib
import json
import os
import re
import sys
from urllib.parse import unquote

problems = []


def bad(msg):
    problems.append(msg)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def is_str(v):
    return isinstance(v, str) and v != ""


SPDX_ID = re.compile(r"^SPDXRef-[A-Za-z0-9.\-]+$")
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
LICENSE_REF = re.compile(r"^(DocumentRef-[A-Za-z0-9.\-]+:)?LicenseRef-[A-Za-z0-9.\-]+$")
LICENSE_ID = re.compile(r"^[A-Za-z0-9.\-]+\+?$")


def check_license_expr(where, expr, defined_refs):
    """SPDX 2.3 Annex D: NONE, NOASSERTION, or an expression of license IDs,
    LicenseRef-s, AND / OR / WITH and parentheses."""
    if expr in ("NONE", "NOASSERTION"):
        return
    tokens = re.findall(r"\(|\)|[^\s()]+", expr)
    depth, want_operand = 0, True
    for t in tokens:
        if t == "(":
            if not want_operand:
                bad(f"{where}: '(' after an operand in '{expr}'")
            depth += 1
        elif t == ")":
            depth -= 1
            if depth < 0 or want_operand:
                bad(f"{where}: unbalanced ')' in '{expr}'")
        elif t in ("AND", "OR", "WITH"):
            if want_operand:
                bad(f"{where}: operator {t} without a left operand in '{expr}'")
            want_operand = True
        else:
            if not want_operand:
                bad(f"{where}: two operands in a row in '{expr}'")
            if t.startswith("LicenseRef-") or t.startswith("DocumentRef-"):
                if not LICENSE_REF.match(t):
                    bad(f"{where}: malformed '{t}'")
                elif t not in defined_refs:
                    bad(f"{where}: '{t}' is not defined in hasExtractedLicensingInfos (clause 10.1)")
            elif not LICENSE_ID.match(t):
                bad(f"{where}: '{t}' is not a license identifier")
            want_operand = False
    if depth != 0 or want_operand:
        bad(f"{where}: incomplete expression '{expr}'")


def check_spdx(doc):
    # Clause 6: document creation information.
    if doc.get("spdxVersion") != "SPDX-2.3":
        bad("spdxVersion is not SPDX-2.3 (6.1)")
    if doc.get("dataLicense") != "CC0-1.0":
        bad("dataLicense is not CC0-1.0 (6.2)")
    if doc.get("SPDXID") != "SPDXRef-DOCUMENT":
        bad("SPDXID is not SPDXRef-DOCUMENT (6.3)")
    if not is_str(doc.get("name")):
        bad("no document name (6.4)")
    ns = doc.get("documentNamespace")
    if not is_str(ns) or "#" in ns or not re.match(r"^[a-z][a-z0-9+.\-]*://", ns):
        bad(f"documentNamespace is not an absolute URI without '#' (6.5): {ns!r}")
    ci = doc.get("creationInfo")
    if not isinstance(ci, dict):
        bad("no creationInfo (6.8, 6.9)")
        ci = {}
    creators = ci.get("creators")
    if not isinstance(creators, list) or not creators:
        bad("creationInfo.creators is empty (6.8)")
    else:
        for c in creators:
            if not isinstance(c, str) or not re.match(r"^(Person|Organization|Tool): \S", c):
                bad(f"creator {c!r} is not 'Person: ', 'Organization: ' or 'Tool: ' (6.8)")
    if not isinstance(ci.get("created"), str) or not DATE.match(ci["created"]):
        bad(f"creationInfo.created is not YYYY-MM-DDThh:mm:ssZ (6.9): {ci.get('created')!r}")

    ids = {"SPDXRef-DOCUMENT"}
    refs = {}
    for e in doc.get("hasExtractedLicensingInfos", []):
        lid = e.get("licenseId")
        if not isinstance(lid, str) or not LICENSE_REF.match(lid):
            bad(f"extracted licence id {lid!r} is not LicenseRef-[idstring] (10.1)")
        if not is_str(e.get("extractedText")):
            bad(f"extracted licence {lid!r} has no extractedText (10.2)")
        refs[lid] = e

    def new_id(where, sid):
        if not isinstance(sid, str) or not SPDX_ID.match(sid):
            bad(f"{where}: SPDXID {sid!r} is not SPDXRef-[idstring]")
        elif sid in ids:
            bad(f"{where}: SPDXID {sid} is not unique")
        ids.add(sid)

    # Clause 7: packages.
    purposes = {"APPLICATION", "FRAMEWORK", "LIBRARY", "CONTAINER", "OPERATING-SYSTEM", "DEVICE", "FIRMWARE",
                "SOURCE", "ARCHIVE", "FILE", "INSTALL", "OTHER"}
    for i, p in enumerate(doc.get("packages", [])):
        where = f"package {i} ({p.get('name')!r})"
        if not is_str(p.get("name")):
            bad(f"{where}: no name (7.1)")
        new_id(where, p.get("SPDXID"))
        dl = p.get("downloadLocation")
        if not is_str(dl) or not (dl in ("NONE", "NOASSERTION") or "://" in dl or dl.startswith("git+")):
            bad(f"{where}: downloadLocation missing or not a URL, NONE or NOASSERTION (7.7)")
        if p.get("filesAnalyzed", True) is not False and "packageVerificationCode" not in p:
            bad(f"{where}: files analysed but no packageVerificationCode (7.8, 7.9)")
        for r in p.get("externalRefs", []):
            if r.get("referenceCategory") not in ("SECURITY", "PACKAGE-MANAGER", "PACKAGE_MANAGER",
                                                  "PERSISTENT-ID", "PERSISTENT_ID", "OTHER"):
                bad(f"{where}: externalRef category {r.get('referenceCategory')!r} (7.21)")
            if not is_str(r.get("referenceType")) or not is_str(r.get("referenceLocator")) or \
                    re.search(r"\s", r.get("referenceLocator", " ")):
                bad(f"{where}: externalRef without type or with a locator holding spaces (7.21)")
        if "primaryPackagePurpose" in p and p["primaryPackagePurpose"] not in purposes:
            bad(f"{where}: primaryPackagePurpose {p['primaryPackagePurpose']!r} (7.24)")
        for k in ("licenseConcluded", "licenseDeclared"):
            if k in p:
                check_license_expr(f"{where} {k}", p[k], refs)

    # Clause 8: files; SHA1 is mandatory among the checksums.
    for i, f in enumerate(doc.get("files", [])):
        where = f"file {i} ({f.get('fileName')!r})"
        if not is_str(f.get("fileName")):
            bad(f"{where}: no fileName (8.1)")
        new_id(where, f.get("SPDXID"))
        sums = {c.get("algorithm"): c.get("checksumValue") for c in f.get("checksums", [])}
        if not re.match(r"^[0-9a-f]{40}$", sums.get("SHA1") or ""):
            bad(f"{where}: no SHA1 checksum (8.4)")
        if "SHA256" in sums and not re.match(r"^[0-9a-f]{64}$", sums["SHA256"] or ""):
            bad(f"{where}: malformed SHA256 checksum (8.4)")

    # Clause 11: relationships name existing elements; the document DESCRIBES something (6.1 note).
    describes = False
    for i, r in enumerate(doc.get("relationships", [])):
        for k in ("spdxElementId", "relatedSpdxElement"):
            v = r.get(k)
            if v not in ids and v not in ("NONE", "NOASSERTION"):
                bad(f"relationship {i}: {k} {v!r} names no element of the document (11.1)")
        if not is_str(r.get("relationshipType")):
            bad(f"relationship {i}: no relationshipType (11.1)")
        if r.get("spdxElementId") == "SPDXRef-DOCUMENT" and r.get("relationshipType") == "DESCRIBES":
            describes = True
    if not describes and not doc.get("documentDescribes"):
        bad("the document DESCRIBES nothing (6, 11.1)")


CDX_TYPES = {"application", "framework", "library", "container", "platform", "operating-system", "device",
             "device-driver", "firmware", "file", "machine-learning-model", "data", "cryptographic-asset"}
CDX_ALGS = {"MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512", "SHA3-256", "SHA3-384", "SHA3-512", "BLAKE2b-256",
            "BLAKE2b-384", "BLAKE2b-512", "BLAKE3"}
UUID_URN = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def check_cyclonedx(doc):
    if doc.get("bomFormat") != "CycloneDX":
        bad("bomFormat is not CycloneDX")
    if doc.get("specVersion") != "1.6":
        bad("specVersion is not 1.6")
    if "serialNumber" in doc and not UUID_URN.match(doc["serialNumber"] or ""):
        bad(f"serialNumber {doc.get('serialNumber')!r} is not an RFC 4122 urn:uuid")
    if "version" in doc and (not isinstance(doc["version"], int) or doc["version"] < 1):
        bad("version is not an integer >= 1")
    md = doc.get("metadata", {})
    if "timestamp" in md and not DATE.match(md["timestamp"]):
        bad(f"metadata.timestamp {md['timestamp']!r} is not a date-time")
    refs = set()

    def component(where, c):
        if c.get("type") not in CDX_TYPES:
            bad(f"{where}: type {c.get('type')!r} is not a component type")
        if not is_str(c.get("name")):
            bad(f"{where}: no name")
        if "bom-ref" in c:
            if c["bom-ref"] in refs:
                bad(f"{where}: bom-ref {c['bom-ref']!r} is not unique")
            refs.add(c["bom-ref"])
        for h in c.get("hashes", []):
            if h.get("alg") not in CDX_ALGS or not re.match(
                    r"^([a-fA-F0-9]{32}|[a-fA-F0-9]{40}|[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128})$",
                    h.get("content", "")):
                bad(f"{where}: hash {h!r} has no known alg or a malformed content")
        lic = c.get("licenses")
        if lic is not None:
            exprs = [x for x in lic if "expression" in x]
            if exprs and len(lic) != 1:
                bad(f"{where}: a license expression must be the only entry of licenses")
            for x in lic:
                if "expression" not in x and not ("license" in x and ("id" in x["license"] or
                                                                      "name" in x["license"])):
                    bad(f"{where}: licenses entry {x!r} is neither an expression nor a license with id or name")
        for p in c.get("properties", []):
            if not is_str(p.get("name")):
                bad(f"{where}: a property without name")

    if "component" in md:
        component("metadata.component", md["component"])
    for i, c in enumerate(doc.get("components", [])):
        component(f"component {i} ({c.get('name')!r})", c)
    for d in doc.get("dependencies", []):
        if d.get("ref") not in refs:
            bad(f"dependency ref {d.get('ref')!r} is no bom-ref of the BOM")
        for x in d.get("dependsOn", []):
            if x not in refs:
                bad(f"dependsOn {x!r} is no bom-ref of the BOM")


PURL = re.compile(r"^pkg:deb/debian/([^@/?#]+)@([^?#]+)\?arch=([a-z0-9\-]+)&distro=debian-12$")


def check_packages(spdx, cdx, dpkg_path):
    want = {}
    with open(dpkg_path, encoding="utf-8") as f:
        for line in f:
            status, name, version, arch, src, srcv = (line.split(" ") + [""] * 6)[:6]
            if status in ("not-installed", "config-files"):
                continue
            want[(name, arch)] = (version, src.strip(), srcv.strip())
    if not want:
        bad("dpkg-query listed no installed package")
    got = {}
    for p in spdx.get("packages", []):
        if p.get("primaryPackagePurpose") in ("CONTAINER", "OPERATING-SYSTEM"):
            continue
        purls = [r["referenceLocator"] for r in p.get("externalRefs", []) if r.get("referenceType") == "purl"]
        m = PURL.match(purls[0]) if len(purls) == 1 else None
        if not m:
            bad(f"SPDX package {p.get('name')!r}: purl {purls!r} is not pkg:deb/debian/NAME@VERSION?arch=A&distro=debian-12")
            continue
        name, version, arch = unquote(m.group(1)), unquote(m.group(2)), m.group(3)
        if name != p["name"] or version != p.get("versionInfo"):
            bad(f"SPDX package {p['name']!r}: purl names {name}@{version}, the package {p['name']}@{p.get('versionInfo')}")
        got[(name, arch)] = (version, p.get("sourceInfo", ""))
    if set(got) != set(want):
        bad(f"SPDX packages differ from dpkg-query: missing {sorted(set(want) - set(got))}, "
            f"extra {sorted(set(got) - set(want))}")
    for k, (version, src, srcv) in want.items():
        if k in got:
            if got[k][0] != version:
                bad(f"SPDX {k}: version {got[k][0]!r}, dpkg-query {version!r}")
            if f"source package {src}, version {srcv}" not in got[k][1]:
                bad(f"SPDX {k}: sourceInfo {got[k][1]!r} does not name source {src} {srcv}")
    cgot = {}
    for c in cdx.get("components", []):
        if c.get("type") != "library":
            continue
        m = PURL.match(c.get("purl", ""))
        if not m:
            bad(f"CycloneDX component {c.get('name')!r}: purl {c.get('purl')!r} malformed")
            continue
        props = {p["name"]: p["value"] for p in c.get("properties", [])}
        cgot[(c["name"], m.group(3))] = (c.get("version"), props)
    if set(cgot) != set(want):
        bad(f"CycloneDX packages differ from dpkg-query: missing {sorted(set(want) - set(cgot))}, "
            f"extra {sorted(set(cgot) - set(want))}")
    for k, (version, src, srcv) in want.items():
        if k in cgot and (cgot[k][0] != version or src not in cgot[k][1].values()):
            bad(f"CycloneDX {k}: version {cgot[k][0]!r} or source differ from dpkg-query ({version}, {src})")


def unowned(root):
    """Regular files of root that no dpkg .list names (directories resolved in root)."""
    info = os.path.join(root, "var/lib/dpkg/info")
    owned = set()
    if os.path.isdir(info):
        for n in os.listdir(info):
            if not n.endswith(".list"):
                continue
            with open(os.path.join(info, n), encoding="utf-8", errors="replace") as f:
                for line in f:
                    p = line.rstrip("\n")
                    if not p.startswith("/") or p == "/.":
                        continue
                    d, b = os.path.split(p)
                    real = os.path.realpath(os.path.join(root, d.lstrip("/")))
                    owned.add(os.path.join(real, b))
    # dpkg-divert's database: lines in threes, the second the path diverted to.
    div = os.path.join(root, "var/lib/dpkg/diversions")
    if os.path.isfile(div):
        with open(div, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        for p in lines[1::3]:
            if p.startswith("/"):
                d, b = os.path.split(p)
                owned.add(os.path.join(os.path.realpath(os.path.join(root, d.lstrip("/"))), b))
    files = {}
    for dirpath, dirs, names in os.walk(root):
        for n in names:
            full = os.path.join(dirpath, n)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            key = os.path.join(os.path.realpath(dirpath), n)
            if key in owned:
                continue
            with open(full, "rb") as f:
                data = f.read()
            rel = "/" + os.path.relpath(full, root)
            files[rel] = (hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest())
    return files


def check_files(spdx, cdx, root):
    want = unowned(root)
    got = {}
    for f in spdx.get("files", []):
        sums = {c["algorithm"]: c["checksumValue"] for c in f.get("checksums", [])}
        got[f["fileName"][1:] if f["fileName"].startswith("./") else f["fileName"]] = (sums.get("SHA256"),
                                                                                       sums.get("SHA1"))
    if got != want:
        bad(f"SPDX files differ from the unowned files of the root: missing {sorted(set(want) - set(got))[:10]}, "
            f"extra {sorted(set(got) - set(want))[:10]}, "
            f"hash differs {[k for k in want if k in got and got[k] != want[k]][:10]}")
    cgot = {}
    for c in cdx.get("components", []):
        if c.get("type") == "file":
            h = {x["alg"]: x["content"] for x in c.get("hashes", [])}
            cgot[c["name"]] = (h.get("SHA-256"), h.get("SHA-1"))
    if cgot != want:
        bad("CycloneDX file components differ from the unowned files of the root")


def os_release(root):
    for p in ("etc/os-release", "usr/lib/os-release"):
        full = os.path.join(root, p)
        if os.path.exists(full):
            vals = {}
            with open(full, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if "=" in line and not line.startswith("#"):
                        k, v = line.split("=", 1)
                        vals[k] = v.strip('"').strip("'")
            return vals
    return {}


def check_os(spdx, cdx, root):
    osr = os_release(root)
    if not osr.get("ID"):
        bad("the root has no os-release ID")
    oss = [p for p in spdx.get("packages", []) if p.get("primaryPackagePurpose") == "OPERATING-SYSTEM"]
    if len(oss) != 1 or oss[0].get("name") != osr.get("ID") or oss[0].get("versionInfo") != osr.get("VERSION_ID"):
        bad(f"SPDX: not one OPERATING-SYSTEM package named {osr.get('ID')} {osr.get('VERSION_ID')}: {oss!r}")
    coss = [c for c in cdx.get("components", []) if c.get("type") == "operating-system"]
    if len(coss) != 1 or coss[0].get("name") != osr.get("ID") or coss[0].get("version") != osr.get("VERSION_ID"):
        bad(f"CycloneDX: not one operating-system component named {osr.get('ID')} {osr.get('VERSION_ID')}")


def main():
    cmd = sys.argv[1]
    if cmd == "spdx":
        check_spdx(load(sys.argv[2]))
    elif cmd == "cyclonedx":
        check_cyclonedx(load(sys.argv[2]))
    elif cmd == "packages":
        check_packages(load(sys.argv[2]), load(sys.argv[3]), sys.argv[4])
    elif cmd == "files":
        check_files(load(sys.argv[2]), load(sys.argv[3]), sys.argv[4])
    elif cmd == "os":
        check_os(load(sys.argv[2]), load(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(f"unknown check {cmd}")
    for p in problems:
        print(p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
