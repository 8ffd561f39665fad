/* LRP rules as small objects, the composites that map layers to them, and the -rules syntax:
 *   -rules 'RANGE:RULE[=PARAMS],...'  RANGE: N, N-M or N- (to the last layer); later entries
 *   override earlier ones; layers no entry names get epsilon (ε = 1e-6).
 *   RULE: epsilon[=E] gamma[=G] alphabeta=A/B alpha1beta0 alpha2beta1 zplus zplus-nobias
 *         zb[=LOW/HIGH] flat w2 pass wta proportional
 * The rules and composites named as Zennit's compute what Zennit's do (docs/conventions.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "lrp.h"
#include "memory.h"
#include "model.h"

static const struct {
    const char *name;
    dx_rule_kind kind;
    int params;        /* how many numbers =P1/P2 may give */
    float p1, p2;      /* their defaults */
} rule_table[] = {
    {"epsilon", DX_RULE_EPSILON, 1, 1e-6f, 0},
    {"gamma", DX_RULE_GAMMA, 1, 0.25f, 0},
    {"alphabeta", DX_RULE_ALPHA_BETA, 2, 1, 0},
    {"alpha1beta0", DX_RULE_ALPHA_BETA, 0, 1, 0},
    {"alpha2beta1", DX_RULE_ALPHA_BETA, 0, 2, 1},
    {"zplus", DX_RULE_ZPLUS, 0, 0, 0},
    {"zplus-nobias", DX_RULE_ZPLUS_NOBIAS, 0, 0, 0},
    {"zb", DX_RULE_ZBOX, 2, 0, 1},
    {"flat", DX_RULE_FLAT, 0, 0, 0},
    {"w2", DX_RULE_WSQUARE, 0, 0, 0},
    {"pass", DX_RULE_PASS, 0, 0, 0},
    {"wta", DX_RULE_WTA, 0, 0, 0},
    {"proportional", DX_RULE_PROPORTIONAL, 0, 0, 0},
};
#define N_RULES (int)(sizeof rule_table / sizeof rule_table[0])

const char *dx_rule_name(dx_rule_kind k)
{
    /* the gradient family's rules are not -rules entries: relevance and gradients do not mix */
    if (k == DX_RULE_GRADIENT) return "gradient";
    if (k == DX_RULE_GUIDED) return "guided";
    if (k == DX_RULE_DECONV) return "deconv";
    if (k == DX_RULE_RESCALE) return "rescale";
    for (int r = 0; r < N_RULES; ++r)
        if (rule_table[r].kind == k) return rule_table[r].name;
    return "?";
}

/* A rule with its table defaults (p1, p2 as given). */
static dx_rule make_rule(dx_rule_kind kind, float p1, float p2)
{
    dx_rule r = {kind, 1e-6f, 0.25f, 1, 0, 0, 1, NULL};
    if (kind == DX_RULE_EPSILON) r.epsilon = p1;
    if (kind == DX_RULE_GAMMA) r.gamma = p1;
    if (kind == DX_RULE_ALPHA_BETA) r.alpha = p1, r.beta = p2;
    if (kind == DX_RULE_ZBOX) r.low = p1, r.high = p2;
    return r;
}

/* Contributions z_ij = a_i w_ij split by sign: z_ij+ = a+ w+ + a- w-, z_ij- = a+ w- + a- w+
 * (the four bases of alpha-beta, two of z+). The bias splits the same way, b+ joining the
 * positive denominators and b- the negative ones (Zennit's AlphaBeta and ZPlus, whose second
 * base zeroes the bias): z+ = alpha-beta 1/0. γ uses |z_ij| = |a_i||w_ij| instead:
 * z_ij + γ z_ij± = (1 + γ/2) z_ij ± γ/2 |a_i||w_ij|, two convolutions instead of four. */
int dx_lrp_form_of(const dx_rule *r, dx_lrp_form *f)
{
    const dx_lrp_base same = {DX_IN_SAME, DX_W_SAME}, pp = {DX_IN_POS, DX_W_POS}, nn = {DX_IN_NEG, DX_W_NEG};
    float g = r->gamma;
    switch (r->kind) {
    case DX_RULE_EPSILON:
        *f = (dx_lrp_form){1, 1, {same}, {{1, DX_B_SAME, 0, {1}}}};
        return 0;
    case DX_RULE_GAMMA:
        *f = (dx_lrp_form){2, 2, {same, {DX_IN_ABS, DX_W_ABS}},
                           {{1, DX_B_GAMMA_POS, +1, {1 + g / 2, g / 2}}, {1, DX_B_GAMMA_NEG, -1, {1 + g / 2, -g / 2}}}};
        return 0;
    case DX_RULE_ZPLUS:
    case DX_RULE_ZPLUS_NOBIAS:
        *f = (dx_lrp_form){2, 1, {pp, nn}, {{1, r->kind == DX_RULE_ZPLUS ? DX_B_POS : DX_B_NONE, 0, {1, 1}}}};
        return 0;
    case DX_RULE_ALPHA_BETA:
        *f = (dx_lrp_form){4, 2, {pp, nn, {DX_IN_POS, DX_W_NEG}, {DX_IN_NEG, DX_W_POS}},
                           {{r->alpha, DX_B_POS, 0, {1, 1, 0, 0}}, {-r->beta, DX_B_NEG, 0, {0, 0, 1, 1}}}};
        if (r->beta == 0.f) f->n_bases = 2, f->n_parts = 1;
        return 0;
    case DX_RULE_ZBOX:
        *f = (dx_lrp_form){3, 1, {same, {DX_IN_LOW, DX_W_POS}, {DX_IN_HIGH, DX_W_NEG}}, {{1, DX_B_NONE, 0, {1, -1, -1}}}};
        return 0;
    case DX_RULE_FLAT:
        *f = (dx_lrp_form){1, 1, {{DX_IN_ONES, DX_W_ONES}}, {{1, DX_B_NONE, 0, {1}}}};
        return 0;
    case DX_RULE_WSQUARE:
        *f = (dx_lrp_form){1, 1, {{DX_IN_ONES, DX_W_SQUARE}}, {{1, DX_B_NONE, 0, {1}}}};
        return 0;
    default:
        return -1;
    }
}

static int has_weights(const dx_layer *l) { return l->type == DX_LAYER_CONVOLUTIONAL || l->type == DX_LAYER_CONNECTED; }

/* Composites: a rule for convolutions, one for connected layers, and for the lowest layer of
 * the kind `first_of` names (Zennit's first_map: the first module of that kind), its own; layers
 * without weights pass relevance on (Zennit's Pass, Norm and plain gradient: lrp/lrp.h). The
 * first three are Zennit's EpsilonPlus, EpsilonPlusFlat and EpsilonGammaBox (low 0, high 1);
 * the last is the project's default: EpsilonPlusFlat with z+ leaving the convolutions' biases
 * out, so that their relevance reaches the input (docs/maps.md, docs/conventions.md). */
enum { FIRST_NONE, FIRST_WEIGHTS, FIRST_CONVOLUTIONAL };
static const struct {
    const char *name;
    int first_of;
    dx_rule_kind first, conv, dense;
} composites[] = {
    {"epsilon-plus", FIRST_NONE, DX_RULE_ZPLUS, DX_RULE_ZPLUS, DX_RULE_EPSILON},
    {"epsilon-plus-flat", FIRST_WEIGHTS, DX_RULE_FLAT, DX_RULE_ZPLUS, DX_RULE_EPSILON},
    {"epsilon-gamma-box", FIRST_CONVOLUTIONAL, DX_RULE_ZBOX, DX_RULE_GAMMA, DX_RULE_EPSILON},
    {"epsilon-plus-flat-nobias", FIRST_WEIGHTS, DX_RULE_FLAT, DX_RULE_ZPLUS_NOBIAS, DX_RULE_EPSILON},
};
#define N_COMPOSITES (int)(sizeof composites / sizeof composites[0])

static int rule_index(const char *name)
{
    for (int r = 0; r < N_RULES; ++r)
        if (!strcmp(rule_table[r].name, name)) return r;
    return -1;
}

static dx_rule default_rule(dx_rule_kind kind)
{
    int r = rule_index(dx_rule_name(kind));
    return make_rule(kind, rule_table[r].p1, rule_table[r].p2);
}

/* "N" -> [N, N]; "N-M"; "N-" -> [N, last]. 0 on success. */
static int parse_range(const char *text, int last, int *lo, int *hi)
{
    char *end;
    errno = 0;
    long a = strtol(text, &end, 10);
    if (errno || end == text || a < 0 || text[0] == '-' || text[0] == '+') return -1;
    long b = a;
    if (*end == '-') {
        const char *rest = end + 1;
        if (*rest == 0) b = last;
        else {
            if (*rest == '-' || *rest == '+') return -1;
            b = strtol(rest, &end, 10);
            if (errno || end == rest || *end) return -1;
        }
    } else if (*end) return -1;
    *lo = (int)(a < 1000000 ? a : 1000000);
    *hi = (int)(b < 1000000 ? b : 1000000);
    return 0;
}

/* "name" or "name=P1" or "name=P1/P2" */
static int parse_rule(const char *text, const char *spec, dx_rule *out, dx_error *err)
{
    char name[32];
    const char *eq = strchr(text, '=');
    size_t len = eq ? (size_t)(eq - text) : strlen(text);
    snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), text);
    int r = len < sizeof name ? rule_index(name) : -1;
    if (r < 0) {
        dx_set_error(err, "-rules '%s': unknown rule '%.*s' (epsilon[=E], gamma[=G], alphabeta=A/B, "
                          "alpha1beta0, alpha2beta1, zplus, zplus-nobias, zb[=LOW/HIGH], flat, w2, pass, wta, "
                          "proportional)",
                     spec, (int)len, text);
        return -1;
    }
    float p[2] = {rule_table[r].p1, rule_table[r].p2};
    int given = 0;
    if (eq) {
        const char *c = eq + 1;
        int bad = 0;
        for (;;) {
            char *end;
            errno = 0;
            double v = strtod(c, &end);
            bad = errno || end == c || given == rule_table[r].params || !(v >= -1e30 && v <= 1e30) ||
                  (*end && *end != '/');
            if (bad) break;
            p[given++] = (float)v;
            if (*end == 0) break;
            c = end + 1;
        }
        if (bad) {
            dx_set_error(err, "-rules '%s': '%s': %s takes %s", spec, text, name,
                         rule_table[r].params == 0 ? "no parameters"
                         : rule_table[r].params == 1 ? "one number" : "one or two numbers separated by '/'");
            return -1;
        }
        if (rule_table[r].kind == DX_RULE_ALPHA_BETA && given == 1) p[1] = p[0] - 1; /* α - β = 1 */
    } else if (rule_table[r].kind == DX_RULE_ALPHA_BETA && rule_table[r].params) {
        dx_set_error(err, "-rules '%s': alphabeta needs its values, e.g. alphabeta=2/1", spec);
        return -1;
    }
    if ((rule_table[r].kind == DX_RULE_EPSILON && p[0] < 0) || (rule_table[r].kind == DX_RULE_GAMMA && p[0] < 0) ||
        (rule_table[r].kind == DX_RULE_ALPHA_BETA && (p[0] < 0 || p[1] < 0)) ||
        (rule_table[r].kind == DX_RULE_ZBOX && !(p[0] < p[1]))) {
        dx_set_error(err, "-rules '%s': '%s': %s", spec, text,
                     rule_table[r].kind == DX_RULE_ZBOX ? "zb needs LOW < HIGH" : "parameters must be >= 0");
        return -1;
    }
    *out = make_rule(rule_table[r].kind, p[0], p[1]);
    return 0;
}

static int parse_spec(const dx_model *m, const char *spec, dx_rule *rules, dx_error *err)
{
    for (int i = 0; i < m->n; ++i) rules[i] = default_rule(has_weights(&m->net->layers[i]) ? DX_RULE_EPSILON : DX_RULE_PASS);
    char *copy = dx_strdup(spec, "-rules", err), *save = NULL;
    if (!copy) return -1;
    int rc = 0, entries = 0;
    for (char *entry = strtok_r(copy, ",", &save); entry && rc == 0; entry = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(entry, ':');
        int lo, hi;
        dx_rule rule;
        entries++;
        if (!colon) {
            dx_set_error(err, "-rules '%s': '%s' is not RANGE:RULE (e.g. 0:zb,1-10:gamma=0.25,11-:epsilon=0.01)",
                         spec, entry);
            rc = -1;
            break;
        }
        *colon = 0;
        if (parse_range(entry, m->n - 1, &lo, &hi) != 0 || lo > hi) {
            dx_set_error(err, "-rules '%s': '%s' is not a layer range (N, N-M or N-)", spec, entry);
            rc = -1;
        } else if (hi >= m->n) {
            dx_set_error(err, "-rules '%s': layer %d does not exist: the model has layers 0..%d", spec, hi, m->n - 1);
            rc = -1;
        } else if ((rc = parse_rule(colon + 1, spec, &rule, err)) == 0) {
            for (int i = lo; i <= hi; ++i) rules[i] = rule;
        }
    }
    if (rc == 0 && entries == 0) {
        dx_set_error(err, "-rules '%s': no RANGE:RULE entries", spec);
        rc = -1;
    }
    free(copy);
    return rc;
}

/* Each rule where it can apply: weights rules on [convolutional]/[connected] (zb on layer 0,
 * which reads the network input whose bounds it uses), wta/proportional on [maxpool]. */
static int check_rules(const dx_model *m, const char *spec, const dx_rule *rules, dx_error *err)
{
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &m->net->layers[i];
        dx_lrp_form form;
        dx_rule_kind k = rules[i].kind;
        const char *problem = NULL;
        if (has_weights(l) && dx_lrp_form_of(&rules[i], &form) != 0) problem = "applies to layers without weights";
        else if ((k == DX_RULE_WTA || k == DX_RULE_PROPORTIONAL) && l->type != DX_LAYER_MAXPOOL) problem = "applies to [maxpool] layers only";
        else if (k == DX_RULE_ZBOX && i != 0) problem = "uses the network input's bounds: it applies to layer 0 only";
        if (problem) {
            dx_set_error(err, "-rules '%s': layer %d [%s]: %s %s", spec, i, l->type_name,
                         dx_rule_name(k), problem);
            return -1;
        }
    }
    return 0;
}

dx_rule *dx_lrp_rules_for(const dx_model *m, const char *composite, const char *spec,
                          dx_error *err)
{
    if (composite && spec) {
        dx_set_error(err, "give a composite or -rules, not both (-composite '%s', -rules '%s')", composite, spec);
        return NULL;
    }
    dx_rule *rules = dx_alloc(m->n, sizeof(dx_rule), "the LRP rules", err);
    if (!rules) return NULL;
    if (spec) {
        if (parse_spec(m, spec, rules, err) != 0 || check_rules(m, spec, rules, err) != 0) {
            free(rules);
            return NULL;
        }
        return rules;
    }
    /* the default: Kohlbrenner et al. 2020's best practice (Zennit's example composite) with
     * z+ keeping no relevance in biases, whose maps on real models keep their relevance and
     * spread it (docs/maps.md: with Darknet's batch norm folded into positive biases,
     * epsilon-gamma-box let 3.6% of Tiny Darknet's relevance reach the input, epsilon-plus-flat
     * 9.2%: faint maps) */
    const char *name = composite ? composite : DX_LRP_DEFAULT_COMPOSITE;
    int c = 0;
    while (c < N_COMPOSITES && strcmp(composites[c].name, name)) ++c;
    if (c == N_COMPOSITES) {
        dx_set_error(err, "-composite '%s': no such composite (epsilon-plus-flat-nobias, epsilon-plus-flat, "
                          "epsilon-plus, epsilon-gamma-box)", name);
        free(rules);
        return NULL;
    }
    int first_done = composites[c].first_of == FIRST_NONE;
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &m->net->layers[i];
        int conv = l->type == DX_LAYER_CONVOLUTIONAL;
        dx_rule_kind k = !has_weights(l) ? DX_RULE_PASS : conv ? composites[c].conv : composites[c].dense;
        if (!first_done && has_weights(l) && (conv || composites[c].first_of == FIRST_WEIGHTS)) {
            k = composites[c].first;
            first_done = 1;
        }
        rules[i] = default_rule(k);
    }
    return rules;
}
