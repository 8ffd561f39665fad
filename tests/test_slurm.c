/* eval on a cluster (tools/slurm/, docs/cluster.md): a real single-node Slurm (munged,
 * slurmctld, slurmd, started by tools/slurm/local-cluster.sh in the test's folder on free
 * ports, never reading /etc/slurm) runs submit.sh's job array and merge job; the merged
 * results equal one process's byte for byte, also when Slurm requeues a task that had written
 * part of its rows; a failed shard cancels the merge and submit.sh --wait says so. GNU
 * parallel, the way without a scheduler, gives the same bytes too. The embedded classifier
 * on generated images keeps it fast. Skipped (before any assertion) where Slurm's packages
 * (`make deps-slurm`) or GNU parallel are missing or the daemons cannot start, unless
 * DX_REQUIRE_SLURM=1 (CI, which installs them). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"

/* The folder of the running cluster ("" when none) and a submit.sh left running in the
 * background (0 when none): stop_cluster ends both, whether the test passed or not. */
static char cluster[128];
static pid_t submitter;

static void stop_cluster(void)
{
    if (submitter > 0) { /* its process group: the shell, submit.sh and sbatch --wait */
        kill(-submitter, SIGTERM);
        waitpid(submitter, NULL, 0);
        submitter = 0;
    }
    if (*cluster) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s/tools/slurm/local-cluster.sh stop %s", getenv("DX_ROOT"), cluster);
        if (system(cmd) != 0) fprintf(stderr, "test_slurm: %s failed\n", cmd);
        *cluster = 0;
    }
}

/* Skips the test with why, or fails it where DX_REQUIRE_SLURM=1. */
static void cannot_run(const char *why)
{
    const char *require = getenv("DX_REQUIRE_SLURM");
    if (require && !strcmp(require, "1")) cr_assert_fail("DX_REQUIRE_SLURM=1: %s", why);
    cr_skip_test("%s", why);
}

/* A fresh folder (in dir, at most 64 bytes) with a single-node Slurm running in dir/slurm;
 * the cluster stops when the test ends (stop_cluster, and the helper's watchdog when the test
 * process is killed). Skips the test, before any assertion, when that cannot be. */
static void start_cluster(char *dir)
{
    const char *root = getenv("DX_ROOT");
    if (!root || !getenv("DX_CLI")) cannot_run("DX_ROOT or DX_CLI is not set (run through make test)");
    strcpy(dir, "/tmp/dx-slurm-XXXXXX");
    if (!mkdtemp(dir)) cannot_run("cannot create a folder in /tmp");
    char cmd[1024], why[600] = "";
    snprintf(cluster, sizeof cluster, "%s/slurm", dir);
    snprintf(cmd, sizeof cmd, "mkdir %s && %s/tools/slurm/local-cluster.sh start %s %d >%s/start.out 2>%s/start.err",
             cluster, root, cluster, (int)getpid(), dir, dir);
    int status = system(cmd);
    if (status == 0) return;
    snprintf(cmd, sizeof cmd, "%s/start.err", dir);
    read_text_into(cmd, why, sizeof why);
    *strchrnul(why, '\n') = 0;
    *cluster = 0; /* a failed start has stopped what it started */
    cannot_run(*why ? why : "tools/slurm/local-cluster.sh start failed");
}

/* `cmd` run by the shell in dir with the cluster's SLURM_CONF (none when no cluster runs), its
 * streams appended to dir/stdout.txt and dir/stderr.txt; its exit status (128 + the signal
 * when killed). */
static int run_in(const char *dir, const char *cmd)
{
    char line[8192];
    snprintf(line, sizeof line, "cd %s && export SLURM_CONF=%s/slurm.conf && { %s ; } >>stdout.txt 2>>stderr.txt",
             dir, *cluster ? cluster : "/nonexistent", cmd);
    int status = system(line);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Nine generated 64x64 one-shape images in dir/shapes/val and their list dir/list.txt. */
static void make_images(const char *dir)
{
    const char *cli = getenv("DX_CLI");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%.*s/gen-shapes shapes val 7 9 64 1 && sed 's|^|shapes/|' shapes/val.list >list.txt",
             (int)(strrchr(cli, '/') - cli), cli);
    cr_assert_eq(run_in(dir, cmd), 0, "gen-shapes failed: see %s/stderr.txt", dir);
}

/* The model and options of every run here: cheap methods and metrics, 4 rows an image. (A
 * submit.sh --wait that outlives the test, killed by its timeout, ends a minute after the
 * watchdog has stopped the cluster.) */
#define SUBMIT "%s/tools/slurm/submit.sh -n 3 -o out --wait "
#define MODEL "%s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights"
#define OPTIONS "-list list.txt -methods gradcam,random -metrics deletion,insertion -auc_steps 8"

/* The same run in one process, into dir/whole. */
static void run_whole(const char *dir)
{
    const char *root = getenv("DX_ROOT");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s eval " MODEL " " OPTIONS " -out whole", getenv("DX_CLI"), root, root);
    cr_assert_eq(run_in(dir, cmd), 0, "the one-process run failed: see %s/stderr.txt", dir);
}

static void expect_same_results(const char *dir, const char *merged)
{
    const char *files[] = {"results.csv", "summary.json", "run.json"};
    for (int k = 0; k < 3; ++k) {
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/whole/%s", dir, files[k]);
        snprintf(b, sizeof b, "%s/%s/%s", dir, merged, files[k]);
        expect_same_file(a, b);
    }
}

/* Waits up to `seconds` for path to exist. */
static int wait_for_file(const char *path, int seconds)
{
    for (int k = 0; k < seconds * 10; ++k) {
        if (access(path, F_OK) == 0) return 1;
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    return 0;
}

Test(cluster, slurm_array_and_merge_equal_one_run, .fini = stop_cluster, .timeout = 300)
{
    char dir[64], path[1024], cmd[4096];
    start_cluster(dir);
    const char *root = getenv("DX_ROOT");
    make_images(dir);
    run_whole(dir);

    /* shard 1's first attempt is preempted after its first image: its folder holds what a
     * task killed then holds (that image's 4 complete rows and a torn one), it tells the test
     * and waits, and the test has Slurm requeue it */
    snprintf(path, sizeof path, "%s/preempt.sh", dir);
    snprintf(cmd, sizeof cmd,
             "#!/bin/sh\n"
             "if [ \"$SLURM_ARRAY_TASK_ID\" = 1 ] && [ \"${SLURM_RESTART_COUNT:-0}\" = 0 ]; then\n"
             "  %s \"$@\" || exit\n"
             "  head -n 5 out/shard-1/results.csv >cut && printf '4,shapes/val/000' >>cut && mv cut out/shard-1/results.csv\n"
             "  touch preempted\n"
             "  exec sleep 300\n"
             "fi\n"
             "exec %s \"$@\"\n",
             getenv("DX_CLI"), getenv("DX_CLI"));
    write_text(path, cmd);
    cr_assert_eq(chmod(path, 0755), 0);

    /* submit.sh --wait in the background while the test requeues */
    snprintf(cmd, sizeof cmd, "DX_BIN=%s/preempt.sh " SUBMIT MODEL " " OPTIONS
             " >submit.out 2>submit.err; echo $? >submit.status", dir, root, root, root);
    submitter = fork();
    cr_assert_neq(submitter, -1);
    setpgid(submitter, submitter); /* here and in the child: whichever runs first */
    if (submitter == 0) {
        setpgid(0, 0);
        char line[8192];
        snprintf(line, sizeof line, "cd %s && export SLURM_CONF=%s/slurm.conf && %s", dir, cluster, cmd);
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    snprintf(path, sizeof path, "%s/preempted", dir);
    cr_assert(wait_for_file(path, 120), "shard 1 never ran (see %s/out/logs, %s/submit.err)", dir, dir);
    char text[8192];
    int array = 0;
    snprintf(path, sizeof path, "%s/submit.out", dir);
    read_text_into(path, text, sizeof text);
    cr_assert_eq(sscanf(text, "eval array job %d", &array), 1, "submit.sh printed: %s", text);
    /* Slurm revokes a requeued task's credential and holds the task back until it has expired
     * (BeginTime: 120 s); a start within the second of the requeue would be refused as revoked
     * (measured), so once it is pending the test starts it 2 s later */
    snprintf(cmd, sizeof cmd,
             "scontrol requeue %d_1 && for k in $(seq 300); do "
             "if [ \"$(squeue -h -j %d_1 -o %%r)\" = BeginTime ]; then sleep 2; exec scontrol update JobId=%d_1 StartTime=now; fi; "
             "sleep 0.1; done; exit 1", array, array, array);
    cr_assert_eq(run_in(dir, cmd), 0, "requeueing shard 1 failed: see %s/stderr.txt", dir);
    snprintf(path, sizeof path, "%s/submit.status", dir);
    cr_assert(wait_for_file(path, 120), "the merge job did not end (see %s/out/logs)", dir);
    waitpid(submitter, NULL, 0);
    submitter = 0;
    read_text_into(path, text, sizeof text);
    cr_assert_eq(atoi(text), 0, "submit.sh --wait failed: see %s/submit.err and %s/out/logs", dir, dir);

    snprintf(path, sizeof path, "%s/out/logs/shard-1.log", dir);
    read_text_into(path, text, sizeof text);
    cr_expect(strstr(text, "shard 1/3 on") && strstr(text, "attempt 2"), "shard 1 ran again after the requeue: %s", text);
    expect_same_results(dir, "out");
    for (int i = 0; i < 3; ++i) {
        snprintf(path, sizeof path, "%s/out/logs/shard-%d.log", dir, i);
        cr_expect(access(path, R_OK) == 0, "no %s: shard %d ran as no array task", path, i);
    }
}

Test(cluster, slurm_failed_shard_cancels_the_merge, .fini = stop_cluster, .timeout = 300)
{
    char dir[64], cmd[4096], path[1024], err[8192];
    start_cluster(dir);
    const char *root = getenv("DX_ROOT");
    make_images(dir);
    /* image 9, shard 0's fourth, does not exist */
    cr_assert_eq(run_in(dir, "echo shapes/val/missing.png >>list.txt"), 0);
    snprintf(cmd, sizeof cmd, "DX_BIN=%s " SUBMIT MODEL " " OPTIONS,
             getenv("DX_CLI"), root, root, root);
    cr_assert_eq(run_in(dir, cmd), 1, "submit.sh --wait reports the failed run (see %s/stderr.txt)", dir);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    read_text_into(path, err, sizeof err);
    cr_expect(strstr(err, "ended CANCELLED") && strstr(err, "shards that failed: 0:"), "%s", err);
    snprintf(path, sizeof path, "%s/out/logs/shard-0.log", dir);
    read_text_into(path, err, sizeof err);
    cr_expect(strstr(err, "shapes/val/missing.png: cannot open image"), "shard 0's log says why: %s", err);
    snprintf(path, sizeof path, "%s/out/results.csv", dir);
    cr_expect(access(path, F_OK) != 0, "no merged results from an incomplete run");
}

/* docs/cluster.md's command without a scheduler */
Test(cluster, gnu_parallel_shards_equal_one_run, .timeout = 300)
{
    if (system("command -v parallel >/dev/null") != 0) cannot_run("GNU parallel is not installed (make deps-slurm)");
    char dir[64] = "/tmp/dx-parallel-XXXXXX", cmd[4096];
    cr_assert(mkdtemp(dir));
    const char *root = getenv("DX_ROOT"), *cli = getenv("DX_CLI");
    make_images(dir);
    run_whole(dir);
    snprintf(cmd, sizeof cmd,
             "mkdir -p run && parallel --will-cite --halt now,fail=1 -j 2 %s eval " MODEL " " OPTIONS
             " -shard {}/3 -out run/shard-{} -resume ::: 0 1 2 && %s eval-merge -out run run/shard-0 run/shard-1 run/shard-2",
             cli, root, root, cli);
    cr_assert_eq(run_in(dir, cmd), 0, "see %s/stderr.txt", dir);
    expect_same_results(dir, "run");
}
