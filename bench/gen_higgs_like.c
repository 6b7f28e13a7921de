/* gen_higgs_like.c — a synthetic binary classification table shaped like UCI HIGGS (28 features:
 * 21 "low-level" kinematic ones and 7 "high-level" invariant masses computed from them), for
 * bench/gbdt.sh. Deterministic: the same ROWS and SEED give the same bytes on every machine
 * (its own splitmix64 generator, no libc rand, values printed with %.6g).
 *
 * usage: gen_higgs_like ROWS SEED > FILE.csv
 *
 * Output: CSV with a header; the first column `label` (0/1), then the 28 features.
 *
 * Each row is one "event" of massless particles, each a (pt, eta, phi):
 *   lepton:  pt ~ LogNormal(0, 0.5), eta ~ N(0, 1.2^2), phi ~ U(-pi, pi)
 *   missing energy: met ~ LogNormal(-0.3, 0.6), met_phi ~ U(-pi, pi)
 *   jets 1-4: as the lepton, and btag in {0, 1, 2} with probabilities 0.60, 0.25, 0.15
 * (3 + 2 + 4 x 4 = 21 low-level features, as HIGGS has), then seven invariant masses of sums of
 * their four-vectors (E = pt cosh eta, p = (pt cos phi, pt sin phi, pt sinh eta); the missing
 * energy has no eta, so pz = 0 and E = met):
 *   m_jj (jets 1+2), m_jjj (1+2+3), m_lv (lepton + met), m_jlv (jet 1 + lepton + met),
 *   m_bb (jets 3+4), m_wbb (jets 1+2+3+4), m_wwbb (everything).
 * The label is a noisy threshold of a non-linear score with a resonance, an interaction between
 * b-tags, an angle and a product of features:
 *   s = -0.8 + 3.0 exp(-((m_bb - 2.0) / 0.4)^2 / 2) + 1.0 [jet3_btag > 0 and jet4_btag > 0]
 *       + 0.8 tanh((m_wwbb - 9) / 3) - 0.6 |lep_eta| [met < 0.8] + 0.6 cos(lep_phi - met_phi)
 *       + 0.4 sin(2 jet1_eta) jet1_pt
 *   label = 1 when s + L > 0, L ~ Logistic(0, 1), so that no model can be perfect: the classes
 *   are balanced (50.4 % ones) and the Bayes classifier (s itself) has an AUC of about 0.80.
 * Train on SEED 1 and test on SEED 2: independent draws of the same distribution.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng_state;

static uint64_t next_u64(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double uniform(void) { return ((double)(next_u64() >> 11) + 0.5) * (1.0 / 9007199254740992.0); } /* (0, 1) */
static double gauss(void) { return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform()); }
static double angle(void) { return 3.141592653589793 * (2 * uniform() - 1); }

typedef struct { double e, x, y, z; } vec4;

static vec4 particle(double pt, double eta, double phi) {
    vec4 v = {pt * cosh(eta), pt * cos(phi), pt * sin(phi), pt * sinh(eta)};
    return v;
}
static vec4 add(vec4 a, vec4 b) {
    vec4 v = {a.e + b.e, a.x + b.x, a.y + b.y, a.z + b.z};
    return v;
}
static double mass(vec4 v) {
    double m2 = v.e * v.e - v.x * v.x - v.y * v.y - v.z * v.z;
    return m2 > 0 ? sqrt(m2) : 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: gen_higgs_like ROWS SEED > FILE.csv\n");
        return 2;
    }
    long long rows = atoll(argv[1]);
    rng_state = strtoull(argv[2], NULL, 10) * 0xD1B54A32D192ED03ULL + 12345;
    if (rows < 1) {
        fprintf(stderr, "gen_higgs_like: ROWS must be positive\n");
        return 2;
    }
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    printf("label,lep_pt,lep_eta,lep_phi,met,met_phi");
    for (int j = 1; j <= 4; j++) printf(",jet%d_pt,jet%d_eta,jet%d_phi,jet%d_btag", j, j, j, j);
    printf(",m_jj,m_jjj,m_lv,m_jlv,m_bb,m_wbb,m_wwbb\n");
    for (long long r = 0; r < rows; r++) {
        double f[28];
        f[0] = exp(0.5 * gauss()), f[1] = 1.2 * gauss(), f[2] = angle();
        f[3] = exp(-0.3 + 0.6 * gauss()), f[4] = angle();
        for (int j = 0; j < 4; j++) {
            double u = uniform();
            f[5 + 4 * j] = exp(0.5 * gauss());
            f[6 + 4 * j] = 1.2 * gauss();
            f[7 + 4 * j] = angle();
            f[8 + 4 * j] = u < 0.60 ? 0 : u < 0.85 ? 1 : 2;
        }
        vec4 lep = particle(f[0], f[1], f[2]);
        vec4 met = {f[3], f[3] * cos(f[4]), f[3] * sin(f[4]), 0};
        vec4 jet[4];
        for (int j = 0; j < 4; j++) jet[j] = particle(f[5 + 4 * j], f[6 + 4 * j], f[7 + 4 * j]);
        vec4 jj = add(jet[0], jet[1]), lv = add(lep, met), bb = add(jet[2], jet[3]);
        vec4 jjj = add(jj, jet[2]), wbb = add(jj, bb);
        f[21] = mass(jj);
        f[22] = mass(jjj);
        f[23] = mass(lv);
        f[24] = mass(add(jet[0], lv));
        f[25] = mass(bb);
        f[26] = mass(wbb);
        f[27] = mass(add(wbb, lv));
        double d = (f[25] - 2.0) / 0.4;
        double s = -0.8 + 3.0 * exp(-0.5 * d * d) + 1.0 * (f[16] > 0 && f[20] > 0) + 0.8 * tanh((f[27] - 9) / 3) -
                   0.6 * fabs(f[1]) * (f[3] < 0.8) + 0.6 * cos(f[2] - f[4]) + 0.4 * sin(2 * f[6]) * f[5];
        double u = uniform();
        int label = s + log(u / (1 - u)) > 0;
        printf("%d", label);
        for (int k = 0; k < 28; k++) printf(",%.6g", f[k]);
        putchar('\n');
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("gen_higgs_like: write");
        return 1;
    }
    return 0;
}
