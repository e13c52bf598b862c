/*
 * A fake of the CANN libraries the `aclnn` backend loads (libascendcl, libnnopbase, libopapi,
 * libhccl), for testing the adapter on a machine without an NPU.
 *
 * "Device" memory is host memory. Runtime calls (memory, streams, handles, int arrays) check the
 * arguments they receive as strictly as the C contract allows; a broken argument makes the call
 * fail loudly: a NULL handle or the status FAKE_MISUSE, a message on stderr, in
 * aclGetRecentErrMsg() and in the log.
 *
 * Tensor descriptors are the exception, as on the device. opbase's aclCreateTensor checks only that
 * the dims pointers are not null (a null stride means contiguous strides), so by default this fake
 * accepts any offset, strides that reach past the storage, unaligned data and data outside every
 * live allocation. Such a descriptor fails later or silently, as on hardware: the first stage
 * reads descriptors only; the "kernel" reads and writes exactly what the descriptor reaches,
 * silently when that lies in live device memory (another buffer, a guard region), and when it
 * does not, the launch faults on the device and the next stream sync returns AICore exception
 * 507015 (the process then poisoned). FAKE_ACL_STRICT=1 turns this fake into a sanitizer for
 * adapter bugs: aclCreateTensor then checks a tensor's dims, strides, offset (0), storage and
 * address (32-byte aligned, in a live allocation), and the second stage that every tensor's
 * storage is inside a live allocation, each failing loudly (FAKE_MISUSE). Unset or 0 is the
 * default; any other value fails the next aclCreateTensor, naming the variable. In both modes the
 * fake refuses what it cannot represent: in aclCreateTensor more than MAX_DIMS dims, a negative
 * dim, an aclDataType it has no element size for; a tensor or int array handle used after its
 * aclDestroy* (opbase's executor keeps the pointer and would read freed memory, whose content
 * this fake cannot imitate).
 *
 * The operator itself is not implemented here: the two aclnn stages hand a description of the
 * call to callbacks registered with fake_set_operator() (the tests register Python callbacks
 * that run fixtures.sim.SimBackend over the rank's communicator), so statuses and outputs are
 * real. Every call is appended to a JSON-lines log (fake_set_log) that tests read back.
 *
 * Where the real runtime behaves in ways an adapter must survive, the fake does too
 * (HARDWARE-REVIEW.md section 5):
 * - the second stage is asynchronous: device faults surface at aclrtSynchronizeStreamWithTimeout,
 *   and FAKE_ACL_KERNEL_MS keeps the "kernel" touching its buffers that long after the launch, so
 *   a sync can time out (507046) with the work still running; freeing its memory meanwhile is
 *   reported (on hardware the device would write into freed memory) and the memory quarantined;
 * - the NPU host of tests/fakes/npu_host.py, in C: physical and logical device ids
 *   (FAKE_NPU_DEVICES, ASCEND_RT_VISIBLE_DEVICES), the SoC name (FAKE_NPU_SOC), device health and
 *   owners (FAKE_NPU_STATE_DIR), a planted device fault (FAKE_NPU_FAULT_ONCE) after which every
 *   runtime call of the process fails and its devices stay unusable for FAKE_NPU_RECOVERY_SECONDS;
 * - the first stage needs the kernel binaries: ASCEND_OPP_PATH holding a binary_info_config.json;
 * - aclrtMalloc returns 64-byte aligned memory whose usable size is ALIGN_UP(size, 32) + 32;
 * - a process that exits after aclInit without aclFinalize is reported;
 * - aclnnAlltoAllvGroupedMatMulV2* exist unless built with -DFAKE_ACL_NO_V2 (an older CANN).
 *
 * Two operators share the library, as libopapi_transformer.so holds both: the dispatch
 * (aclnnAlltoAllvGroupedMatMul) and the combine (aclnnGroupedMatMulAlltoAllv, prototypes of
 * contracts/gmm_alltoallv.md section 3: no permuteOutFlag, outputs y and mmYOptional), each with
 * its V2 (commMode after group). Their calls share one description (fake_call, `op` telling them
 * apart); the combine's y takes the dispatch's gmmY slot and it has no permuteOut.
 */
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FAKE_MISUSE 999001        /* the caller broke the C contract */
#define FAKE_NO_OPERATOR 999003   /* no operator callbacks registered */
#define ACL_ERROR_INVALID_PARAM 100000
#define ACL_ERROR_REPEAT_INITIALIZE 100002
#define ACL_ERROR_RT_MEMORY_ALLOCATION 207001
#define ACL_ERROR_RT_INVALID_DEVICEID 107001
#define ACL_ERROR_RT_AICORE_EXCEPTION 507015
#define ACL_ERROR_RT_TSD_WAIT_FAIL 507033
#define ACL_ERROR_RT_STREAM_SYNC_TIMEOUT 507046
#define ACL_ERROR_RT_DRV_INTERNAL_ERROR 507899
#define ACLNN_ERR_INNER_FIND_KERNEL_ERROR 561003
#define MAX_DEVICES 64
#define DEFAULT_RECOVERY_SECONDS 4.0
#define MAX_DIMS 8
#define MAX_INT_ARRAY 65536
#define GROUP_MAX 4096
#define ROOT_INFO_BYTES 4108
#define COMM_NAME_BYTES 128
#define TENSOR_MAGIC 0x54454e534f52ULL
#define ARRAY_MAGIC 0x494e544152ULL
#define EXEC_MAGIC 0x45584543ULL
#define STREAM_MAGIC 0x5354524dULL
#define COMM_MAGIC 0x48434f4dULL

/* ---- what the operator callbacks see (mirrored by ctypes in tests/fakes/acl/operator.py) ---- */
typedef struct fake_tensor {
    uint64_t magic;
    int64_t id;
    int64_t live;
    int64_t ndim;
    int64_t view[MAX_DIMS];
    int64_t strides[MAX_DIMS];
    int64_t offset;
    int64_t dtype;
    int64_t format;
    int64_t nstorage;
    int64_t storage[MAX_DIMS];
    int64_t storage_bytes;
    void *data;
    int64_t reach_lo;   /* the bytes the view touches, relative to data: [reach_lo, reach_hi) */
    int64_t reach_hi;
    int64_t readable;   /* set by the first stage: that range lies in one live allocation */
} fake_tensor;

typedef struct fake_int_array {
    uint64_t magic;
    int64_t id;
    int64_t live;
    int64_t size;
    int64_t *values;
} fake_int_array;

enum { T_GMM_X, T_GMM_WEIGHT, T_SEND_COUNTS, T_RECV_COUNTS, T_MM_X, T_MM_WEIGHT, T_GMM_Y, T_MM_Y,
       T_PERMUTE_OUT, N_TENSORS };
static const char *DISPATCH_NAMES[N_TENSORS] = {
    "gmmX", "gmmWeight", "sendCountsTensor", "recvCountsTensor", "mmX", "mmWeight", "gmmY", "mmY",
    "permuteOut"};
/* The combine's C names for the same slots: y in gmmY's, no permuteOut (never logged). */
static const char *COMBINE_NAMES[N_TENSORS] = {
    "gmmX", "gmmWeight", "sendCountsTensor", "recvCountsTensor", "mmX", "mmWeight", "y", "mmY",
    "permuteOut"};
enum { OP_DISPATCH, OP_COMBINE };
#define TENSOR_NAMES (names_of(current_op))
static __thread int current_op;  /* the operator of the aclnn call this thread is in */
static const char **names_of(int op) { return op == OP_COMBINE ? COMBINE_NAMES : DISPATCH_NAMES; }
static int n_tensors_of(int op) { return op == OP_COMBINE ? T_PERMUTE_OUT : N_TENSORS; }

typedef struct fake_call {
    int64_t call_id;
    fake_tensor *tensors[N_TENSORS];
    const char *group;
    int64_t ep_world_size;
    fake_int_array *send_counts;
    fake_int_array *recv_counts;
    int64_t trans_gmm_weight;
    int64_t trans_mm_weight;
    int64_t permute_out_flag;
    int64_t workspace_size_null;
    int64_t executor_null;
    const char *comm_mode;  /* V2 only */
    int64_t entry_v2;       /* 1: called through aclnnAlltoAllvGroupedMatMulV2GetWorkspaceSize */
    int64_t op;             /* OP_DISPATCH or OP_COMBINE: whose entry point was called */
} fake_call;

typedef int32_t (*fake_stage1_fn)(const fake_call *call, uint64_t *workspace_size);
typedef int32_t (*fake_stage2_fn)(int64_t call_id, void *workspace, uint64_t workspace_size);

typedef struct fake_executor {
    uint64_t magic;
    int64_t id;
    int64_t used;
    int64_t destroyed;
    fake_tensor *tensors[N_TENSORS];
    fake_int_array *arrays[2];
    int64_t op;
} fake_executor;

typedef struct { char *p; uint64_t n; } range;
typedef struct {
    uint64_t magic; int64_t id; int64_t live;
    int32_t error;                 /* a device fault of the last launch, reported at the next sync */
    char error_text[512];
    int running;                   /* the last launch still runs on the device until `until` */
    struct timespec until;
    range ranges[N_TENSORS + 1];   /* the allocations that launch touches */
    int n_ranges;
} fake_stream;
typedef struct { uint64_t magic; int64_t rank; int64_t size; int64_t live; char name[COMM_NAME_BYTES]; } fake_comm;
typedef struct { char *raw; char *base; uint64_t size; int64_t id; } allocation;

/* ---- global state, guarded by one mutex (never held while calling back into Python) ---- */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int initialised;
static FILE *log_file;
static fake_stage1_fn stage1_cb;
static fake_stage2_fn stage2_cb;
static allocation *allocs;
static int64_t n_allocs, cap_allocs, alloc_ids, live_bytes;
static void **handles;  /* every handle ever created: tensors, arrays, executors, streams, comms */
static int64_t n_handles, cap_handles, next_id = 1;
static int64_t device_limit = (int64_t)64 << 30;
static __thread char recent_error[1024];
static __thread int have_error;
static int32_t current_device = -1;

/* ---- the device's health (tests/fakes/npu_host.py in C) ---- */
static int32_t poisoned;              /* a device fault was reported: every runtime call fails with it */
static char poison_text[512];
static uint64_t claimed;              /* logical devices this process set (bit i: device i) */
static int64_t calls_after_fault, releases_after_fault, freed_while_running;
static pthread_cond_t kernel_done = PTHREAD_COND_INITIALIZER;
static fake_stream *streams[256];
static int n_streams;
static allocation *quarantine;        /* freed while a launch still touched them: never reused */
static int64_t n_quarantine, cap_quarantine;

static void push_handle(void *h) {
    if (n_handles == cap_handles) {
        cap_handles = cap_handles ? 2 * cap_handles : 1024;
        handles = realloc(handles, (size_t)cap_handles * sizeof(void *));
    }
    handles[n_handles++] = h;
}

static int known_handle(const void *h, uint64_t magic) {
    if (h == NULL) return 0;
    for (int64_t i = n_handles - 1; i >= 0; i--)
        if (handles[i] == h) return *(const uint64_t *)h == magic;
    return 0;
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_ints(FILE *f, const int64_t *v, int64_t n) {
    fputc('[', f);
    for (int64_t i = 0; v && i < n; i++) fprintf(f, "%s%" PRId64, i ? "," : "", v[i]);
    fputc(']', f);
}

/* Record a failure: recent error, stderr, and the log. Call with the lock held. */
static void misuse(const char *fn, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(recent_error, sizeof recent_error, fmt, ap);
    va_end(ap);
    have_error = 1;
    fprintf(stderr, "fake_acl: %s: %s\n", fn, recent_error);
    if (log_file) {
        fprintf(log_file, "{\"fn\":\"%s\",\"pid\":%d,\"error\":", fn, (int)getpid());
        json_string(log_file, recent_error);
        fputs("}\n", log_file);
        fflush(log_file);
    }
}

/* Record a refusal the real runtime makes without a message (opbase's aclCreateTensor): the log
 * only. Call with the lock held. */
static void refuse_quietly(const char *fn, const char *what) {
    if (log_file) {
        fprintf(log_file, "{\"fn\":\"%s\",\"pid\":%d,\"refused\":", fn, (int)getpid());
        json_string(log_file, what);
        fputs("}\n", log_file);
        fflush(log_file);
    }
}

/* FAKE_ACL_STRICT: 1 checks every descriptor (the sanitizer), 0 or unset is lenient like the
 * runtime, -1 any other value (the caller reports it). */
static int strict_checks(void) {
    const char *raw = getenv("FAKE_ACL_STRICT");
    if (raw == NULL || *raw == 0 || strcmp(raw, "0") == 0) return 0;
    return strcmp(raw, "1") == 0 ? 1 : -1;
}

/* The live allocation holding [p, p + n), or NULL. */
static allocation *find_alloc(const void *p, uint64_t n) {
    const char *c = p;
    for (int64_t i = 0; i < n_allocs; i++) {
        allocation *a = &allocs[i];
        if (c >= a->base && c <= a->base + a->size && n <= (uint64_t)(a->base + a->size - c)) return a;
    }
    return NULL;
}

static void release_alloc(int64_t i);

/* ---------------------------- the NPU host (npu_host.py) -------------------------------- */
static int physical_devices(int *out) {
    const char *raw = getenv("FAKE_NPU_DEVICES");
    int n = 0;
    if (raw == NULL || *raw == 0) {
        for (; n < 16; n++) out[n] = n;
        return n;
    }
    int digits = 1;
    for (const char *c = raw; *c; c++) digits &= *c >= '0' && *c <= '9';
    if (digits) {
        int count = atoi(raw);
        for (; n < count && n < MAX_DEVICES; n++) out[n] = n;
        return n;
    }
    char buf[512];
    snprintf(buf, sizeof buf, "%s", raw);
    for (char *save = NULL, *part = strtok_r(buf, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(part, '-');
        int lo = atoi(part), hi = dash ? atoi(dash + 1) : lo;
        for (int d = lo; d <= hi && n < MAX_DEVICES; d++) out[n++] = d;
    }
    return n;
}

/* The physical ids this process sees, in logical order: ASCEND_RT_VISIBLE_DEVICES keeps the ids
 * before the first invalid one (out of range, repeated, not ascending) and drops the rest. */
static int visible_devices(int *out) {
    int phys[MAX_DEVICES];
    int n_phys = physical_devices(phys);
    const char *raw = getenv("ASCEND_RT_VISIBLE_DEVICES");
    if (raw == NULL) {
        memcpy(out, phys, (size_t)n_phys * sizeof *phys);
        return n_phys;
    }
    int n = 0, last = -1;
    const char *c = raw;
    while (n < MAX_DEVICES) {
        while (*c == ' ') c++;
        if (*c < '0' || *c > '9') break;
        int logical = 0;
        while (*c >= '0' && *c <= '9') logical = logical * 10 + (*c++ - '0');
        while (*c == ' ') c++;
        if ((*c != ',' && *c != 0) || logical >= n_phys || logical <= last) break;
        out[n++] = phys[logical];
        last = logical;
        if (*c == 0) break;
        c++;
    }
    return n;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int state_file(char *path, size_t n, int physical, const char *kind) {
    const char *dir = getenv("FAKE_NPU_STATE_DIR");
    if (dir == NULL || *dir == 0) return 0;
    snprintf(path, n, "%s/device-%d.%s", dir, physical, kind);
    return 1;
}

static double read_number(const char *path) {
    FILE *f = fopen(path, "r");
    double v = 0;
    if (f) {
        if (fscanf(f, "%lf", &v) != 1) v = 0;
        fclose(f);
    }
    return v;
}

static void write_text(const char *path, const char *text) {
    const char *dir = getenv("FAKE_NPU_STATE_DIR");
    if (dir) mkdir(dir, 0777);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void poison_physical(int physical) {
    char path[4096], text[64];
    const char *raw = getenv("FAKE_NPU_RECOVERY_SECONDS");
    double recovery = raw && *raw ? atof(raw) : DEFAULT_RECOVERY_SECONDS;
    if (!state_file(path, sizeof path, physical, "poisoned")) return;
    snprintf(text, sizeof text, "%.3f\n", now_seconds() + recovery);
    write_text(path, text);
}

/* 0 when this process may set logical `device`, else the runtime's code (npu_host.set_device_error). */
static int32_t set_device_error(int32_t device) {
    int visible[MAX_DEVICES];
    int n = visible_devices(visible);
    if (device < 0 || device >= n) return ACL_ERROR_RT_INVALID_DEVICEID;
    char path[4096];
    if (!state_file(path, sizeof path, visible[device], "poisoned")) return 0;
    if (read_number(path) > now_seconds()) return ACL_ERROR_RT_TSD_WAIT_FAIL;
    state_file(path, sizeof path, visible[device], "owner");
    int pid = (int)read_number(path);
    if (pid && pid != (int)getpid() && kill(pid, 0) != 0 && errno == ESRCH) {
        unlink(path);
        poison_physical(visible[device]);
        return ACL_ERROR_RT_TSD_WAIT_FAIL;
    }
    return 0;
}

static void own_device(int32_t device, int take) {
    int visible[MAX_DEVICES];
    char path[4096], text[32];
    if (device < 0 || device >= visible_devices(visible)) return;
    if (!state_file(path, sizeof path, visible[device], "owner")) return;
    if (take) {
        snprintf(text, sizeof text, "%d\n", (int)getpid());
        write_text(path, text);
    } else unlink(path);
}

/* A planted fault: once, for the process that removes the flag file; its code is the file's
 * content (an ACL_ERROR_RT_* device code, 507015 when empty), 0 when there is none. */
static int32_t take_planted_fault(void) {
    const char *flag = getenv("FAKE_NPU_FAULT_ONCE");
    if (flag == NULL || *flag == 0) return 0;
    int32_t code = (int32_t)read_number(flag);
    if (unlink(flag) != 0) return 0;
    return code ? code : ACL_ERROR_RT_AICORE_EXCEPTION;
}

static const char *fault_name(int32_t code) {
    switch (code) {
    case 507014: return "aicore timeout";
    case 507015: return "aicore error exception";
    case 507017: return "aicpu timeout";
    case 507018: return "aicpu exception";
    case 507899: return "driver internal error";
    default: return "device task exception";
    }
}

/* The fault is reported: the process is poisoned and its devices need the recovery delay. */
static void poison_process(int32_t code, const char *text) {
    int visible[MAX_DEVICES];
    int n = visible_devices(visible);
    poisoned = code;
    snprintf(poison_text, sizeof poison_text, "%s", text);
    for (int d = 0; d < n && d < MAX_DEVICES; d++)
        if (claimed & ((uint64_t)1 << d)) poison_physical(visible[d]);
}

/* Every later runtime call of a poisoned process fails: the context's sticky error 507899
 * (ACL_ERROR_RT_DRV_INTERNAL_ERROR). Call with the lock held. */
static int32_t after_fault(const char *fn) {
    calls_after_fault++;
    if (strstr(fn, "Free") || strstr(fn, "Destroy") || strstr(fn, "Reset")) releases_after_fault++;
    misuse(fn, "EE9999: the device faulted earlier in this process (%d): %s", poisoned, poison_text);
    return ACL_ERROR_RT_DRV_INTERNAL_ERROR;
}

static int in_running_launch(const allocation *a) {
    for (int i = 0; i < n_streams; i++)
        for (int r = 0; streams[i]->running && r < streams[i]->n_ranges; r++)
            if (streams[i]->ranges[r].p == a->base) return 1;
    return 0;
}

/* ---------------------------------- test hooks ------------------------------------------ */
void fake_set_operator(fake_stage1_fn s1, fake_stage2_fn s2) {
    pthread_mutex_lock(&lock);
    stage1_cb = s1;
    stage2_cb = s2;
    pthread_mutex_unlock(&lock);
}

int32_t fake_set_log(const char *path) {
    pthread_mutex_lock(&lock);
    if (log_file) fclose(log_file);
    log_file = path ? fopen(path, "a") : NULL;
    int32_t ok = path == NULL || log_file != NULL;
    pthread_mutex_unlock(&lock);
    return ok ? 0 : errno;
}

void fake_set_device_limit(int64_t bytes) { device_limit = bytes; }
int64_t fake_calls_after_fault(void) { return calls_after_fault; }
int64_t fake_releases_after_fault(void) { return releases_after_fault; }
int64_t fake_freed_while_running(void) { return freed_while_running; }
int32_t fake_poisoned(void) { return poisoned; }

/* For a test that abandoned a poisoned or timed-out backend: wait for every launch to end, then
 * forget the fault and free what the adapter left behind (on hardware: a new process). */
void fake_reset(void) {
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n_streams; i++)
        while (streams[i]->running) pthread_cond_wait(&kernel_done, &lock);
    for (int i = 0; i < n_streams; i++) streams[i]->error = 0;
    for (int64_t i = 0; i < n_quarantine; i++) free(quarantine[i].raw);
    n_quarantine = 0;
    while (n_allocs) release_alloc(n_allocs - 1);
    for (int64_t i = 0; i < n_handles; i++) {
        uint64_t m = *(uint64_t *)handles[i];
        if (m == TENSOR_MAGIC) ((fake_tensor *)handles[i])->live = 0;
        else if (m == ARRAY_MAGIC) ((fake_int_array *)handles[i])->live = 0;
    }
    poisoned = 0;
    calls_after_fault = releases_after_fault = freed_while_running = 0;
    claimed = 0;
    initialised = 0;
    pthread_mutex_unlock(&lock);
}
int64_t fake_live_allocations(void) { return n_allocs; }
int64_t fake_live_bytes(void) { return live_bytes; }

int64_t fake_live_handles(void) {
    pthread_mutex_lock(&lock);
    int64_t n = 0;
    for (int64_t i = 0; i < n_handles; i++) {
        uint64_t m = *(uint64_t *)handles[i];
        if (m == TENSOR_MAGIC) n += ((fake_tensor *)handles[i])->live != 0;
        else if (m == ARRAY_MAGIC) n += ((fake_int_array *)handles[i])->live != 0;
    }
    pthread_mutex_unlock(&lock);
    return n;
}

/* Copy the bytes of a device range to host, for tests that inspect guard regions. */
int32_t fake_peek(const void *device, void *host, uint64_t n) {
    pthread_mutex_lock(&lock);
    int ok = find_alloc(device, n) != NULL;
    if (ok) memcpy(host, device, n);
    pthread_mutex_unlock(&lock);
    return ok ? 0 : FAKE_MISUSE;
}

/* Write into device memory behind the adapter's back (a test plants an out-of-bounds write). */
int32_t fake_poke(void *device, const void *host, uint64_t n) {
    pthread_mutex_lock(&lock);
    int ok = find_alloc(device, n) != NULL;
    if (ok) memcpy(device, host, n);
    pthread_mutex_unlock(&lock);
    return ok ? 0 : FAKE_MISUSE;
}

/* ---------------------------------- libascendcl ----------------------------------------- */
int32_t aclInit(const char *config) {
    pthread_mutex_lock(&lock);
    int32_t ret = initialised ? ACL_ERROR_REPEAT_INITIALIZE : 0;
    if (ret == 0 && config != NULL) {
        FILE *f = fopen(config, "r");
        int c = f ? fgetc(f) : EOF;
        while (c == ' ' || c == '\n' || c == '\t' || c == '\r') c = fgetc(f);
        if (f) fclose(f);
        if (c != '{') {
            misuse("aclInit", "config %s is not a readable JSON file", config);
            ret = ACL_ERROR_INVALID_PARAM;
        }
    }
    if (ret == 0) initialised = 1;
    if (log_file) {
        fprintf(log_file, "{\"fn\":\"aclInit\",\"pid\":%d,\"ret\":%d,\"config\":", (int)getpid(), ret);
        if (config) json_string(log_file, config);
        else fputs("null", log_file);
        fputs("}\n", log_file);
        fflush(log_file);
    }
    pthread_mutex_unlock(&lock);
    return ret;
}

int32_t aclFinalize(void) {
    pthread_mutex_lock(&lock);
    initialised = 0;
    pthread_mutex_unlock(&lock);
    return 0;
}

/* The runtime keeps a process's device resources until aclFinalize: say so when it never ran. */
__attribute__((destructor)) static void at_exit(void) {
    if (!initialised || poisoned) return;
    fprintf(stderr, "fake_acl: process %d exits after aclInit without aclFinalize: its device "
            "resources stay held until the runtime notices\n", (int)getpid());
    if (log_file) {
        fprintf(log_file, "{\"fn\":\"exit\",\"pid\":%d,\"error\":\"exit without aclFinalize\"}\n", (int)getpid());
        fflush(log_file);
    }
}

const char *aclGetRecentErrMsg(void) {
    if (!have_error) return NULL;
    have_error = 0;
    return recent_error;
}

const char *aclrtGetSocName(void) {
    static char soc[128];
    const char *raw = getenv("FAKE_NPU_SOC");
    snprintf(soc, sizeof soc, "%s", raw && *raw ? raw : "Ascend910_9391");
    return soc;
}

int32_t aclrtGetDeviceCount(uint32_t *count) {
    int visible[MAX_DEVICES];
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    if (poisoned) ret = after_fault("aclrtGetDeviceCount");
    else if (count == NULL) { misuse("aclrtGetDeviceCount", "null pointer"); ret = ACL_ERROR_INVALID_PARAM; }
    else *count = (uint32_t)visible_devices(visible);
    pthread_mutex_unlock(&lock);
    return ret;
}

int32_t aclrtSetDevice(int32_t device) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    if (poisoned) ret = after_fault("aclrtSetDevice");
    else if (!initialised) { misuse("aclrtSetDevice", "aclInit was not called"); ret = FAKE_MISUSE; }
    else if ((ret = set_device_error(device)) == ACL_ERROR_RT_INVALID_DEVICEID) {
        int visible[MAX_DEVICES];
        const char *env = getenv("ASCEND_RT_VISIBLE_DEVICES");
        misuse("aclrtSetDevice", "EE1001: device id %d is invalid: %d device(s) visible "
               "(ASCEND_RT_VISIBLE_DEVICES=%s)", device, visible_devices(visible), env ? env : "unset");
    } else if (ret == ACL_ERROR_RT_TSD_WAIT_FAIL) {
        misuse("aclrtSetDevice", "tsd client wait response fail: device %d is still releasing the "
               "resources of a faulted or killed process", device);
    } else {
        current_device = device;
        if (device < MAX_DEVICES) claimed |= (uint64_t)1 << device;
        own_device(device, 1);
    }
    pthread_mutex_unlock(&lock);
    return ret;
}

int32_t aclrtResetDevice(int32_t device) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    if (poisoned) ret = after_fault("aclrtResetDevice");
    else {
        if (device >= 0 && device < MAX_DEVICES) claimed &= ~((uint64_t)1 << device);
        own_device(device, 0);
    }
    pthread_mutex_unlock(&lock);
    return ret;
}

/* One context per device; a thread makes it current with aclrtSetCurrentContext. */
static int64_t contexts[64];
static __thread int64_t *thread_context;

int32_t aclrtGetCurrentContext(void **context) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    if (poisoned) ret = after_fault("aclrtGetCurrentContext");
    else if (context == NULL) { misuse("aclrtGetCurrentContext", "null pointer"); ret = FAKE_MISUSE; }
    else if (current_device < 0 || current_device >= 64) {
        misuse("aclrtGetCurrentContext", "no device set (aclrtSetDevice)"); ret = FAKE_MISUSE;
    } else {
        contexts[current_device] = current_device + 1;
        thread_context = &contexts[current_device];
        *context = thread_context;
    }
    pthread_mutex_unlock(&lock);
    return ret;
}

int32_t aclrtSetCurrentContext(void *context) {
    int64_t *c = context;
    if (c < contexts || c >= contexts + 64 || *c == 0) {
        pthread_mutex_lock(&lock);
        misuse("aclrtSetCurrentContext", "%p is not a context from aclrtGetCurrentContext", context);
        pthread_mutex_unlock(&lock);
        return FAKE_MISUSE;
    }
    thread_context = c;
    return 0;
}

int32_t aclrtCreateStream(void **stream) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    if (poisoned) ret = after_fault("aclrtCreateStream");
    else if (stream == NULL) { misuse("aclrtCreateStream", "null stream pointer"); ret = FAKE_MISUSE; }
    else if (current_device < 0) { misuse("aclrtCreateStream", "no device set (aclrtSetDevice)"); ret = FAKE_MISUSE; }
    else if (n_streams == (int)(sizeof streams / sizeof *streams)) {
        misuse("aclrtCreateStream", "more than %d streams", n_streams); ret = FAKE_MISUSE;
    } else {
        fake_stream *s = calloc(1, sizeof *s);
        s->magic = STREAM_MAGIC; s->id = next_id++; s->live = 1;
        push_handle(s);
        streams[n_streams++] = s;
        *stream = s;
    }
    pthread_mutex_unlock(&lock);
    return ret;
}

int32_t aclrtDestroyStream(void *stream) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    if (poisoned) ret = after_fault("aclrtDestroyStream");
    else if (!known_handle(stream, STREAM_MAGIC) || !((fake_stream *)stream)->live) {
        misuse("aclrtDestroyStream", "not a live stream: %p", stream); ret = FAKE_MISUSE;
    } else ((fake_stream *)stream)->live = 0;
    pthread_mutex_unlock(&lock);
    return ret;
}

static int ts_before(const struct timespec *a, const struct timespec *b) {
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static struct timespec ms_from_now(int64_t ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) { t.tv_sec++; t.tv_nsec -= 1000000000L; }
    return t;
}

/* A launched second stage still on the device: it keeps touching its buffers until `until`. */
static void *device_work(void *arg) {
    fake_stream *s = arg;
    struct timespec nap = {0, 1000000L};
    pthread_mutex_lock(&lock);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (!ts_before(&now, &s->until)) break;
        for (int r = 0; r < s->n_ranges; r++) {
            volatile char *v = s->ranges[r].p;
            v[0] = v[0];
            v[s->ranges[r].n - 1] = v[s->ranges[r].n - 1];
        }
        pthread_mutex_unlock(&lock);
        nanosleep(&nap, NULL);
        pthread_mutex_lock(&lock);
    }
    s->running = 0;
    s->n_ranges = 0;
    pthread_cond_broadcast(&kernel_done);
    pthread_mutex_unlock(&lock);
    return NULL;
}

int32_t aclrtSynchronizeStreamWithTimeout(void *stream, int32_t timeout) {
    const char *fn = "aclrtSynchronizeStreamWithTimeout";
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    fake_stream *s = stream;
    if (poisoned) ret = after_fault(fn);
    else if (!known_handle(stream, STREAM_MAGIC) || !s->live) {
        misuse(fn, "not a live stream: %p", stream); ret = FAKE_MISUSE;
    } else if (timeout < -1 || timeout == 0) {
        misuse(fn, "timeout %d: only -1 (forever) and > 0 (milliseconds) are defined", timeout);
        ret = ACL_ERROR_INVALID_PARAM;
    } else {
        struct timespec deadline = ms_from_now(timeout);
        while (s->running && ret == 0) {
            if (timeout == -1) pthread_cond_wait(&kernel_done, &lock);
            else if (pthread_cond_timedwait(&kernel_done, &lock, &deadline) == ETIMEDOUT && s->running) {
                misuse(fn, "stream %" PRId64 " did not finish within %d ms; the task keeps running "
                       "on the device", s->id, timeout);
                ret = ACL_ERROR_RT_STREAM_SYNC_TIMEOUT;
            }
        }
        if (ret == 0 && s->error) {
            ret = s->error;
            misuse(fn, "%s", s->error_text);
            poison_process(s->error, s->error_text);
            s->error = 0;
        }
    }
    if (log_file) {
        fprintf(log_file, "{\"fn\":\"%s\",\"pid\":%d,\"timeout\":%d,\"ret\":%d}\n", fn, (int)getpid(), timeout, ret);
        fflush(log_file);
    }
    pthread_mutex_unlock(&lock);
    return ret;
}

/* 64-byte aligned; the usable size is ALIGN_UP(size, 32) + 32 (the aclrtMalloc contract). */
int32_t aclrtMalloc(void **ptr, size_t size, int32_t policy) {
    (void)policy;
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    uint64_t usable = ((uint64_t)size + 31) / 32 * 32 + 32;
    if (poisoned) ret = after_fault("aclrtMalloc");
    else if (ptr == NULL || size == 0) {
        misuse("aclrtMalloc", "null pointer or size 0 (size %zu)", size); ret = ACL_ERROR_INVALID_PARAM;
    } else if ((int64_t)usable > device_limit - live_bytes) {
        snprintf(recent_error, sizeof recent_error, "EL0004: [PID: %d] Failed to allocate memory. Possible "
                 "Cause: Available memory is insufficient (%zu bytes asked, %" PRId64 " free). Solution: Close "
                 "applications not in use.", (int)getpid(), size, device_limit - live_bytes);
        have_error = 1; ret = ACL_ERROR_RT_MEMORY_ALLOCATION;
    } else {
        char *raw = malloc(usable + 64);
        if (raw == NULL) {
            snprintf(recent_error, sizeof recent_error, "EL0004: malloc(%zu) failed", size);
            have_error = 1; ret = ACL_ERROR_RT_MEMORY_ALLOCATION;
        } else {
            uintptr_t b = ((uintptr_t)raw + 63) & ~(uintptr_t)63;
            if (n_allocs == cap_allocs) {
                cap_allocs = cap_allocs ? 2 * cap_allocs : 256;
                allocs = realloc(allocs, (size_t)cap_allocs * sizeof *allocs);
            }
            allocs[n_allocs++] = (allocation){raw, (char *)b, usable, ++alloc_ids};
            live_bytes += (int64_t)usable;
            *ptr = (void *)b;
        }
    }
    pthread_mutex_unlock(&lock);
    return ret;
}

/* Call with the lock held: release allocation i (quarantined if a launch still touches it). */
static void release_alloc(int64_t i) {
    live_bytes -= (int64_t)allocs[i].size;
    if (in_running_launch(&allocs[i])) {
        freed_while_running++;
        misuse("aclrtFree", "%p is freed while a second stage still runs on the device and accesses it "
               "(on hardware the device writes into freed memory)", allocs[i].base);
        if (n_quarantine == cap_quarantine) {
            cap_quarantine = cap_quarantine ? 2 * cap_quarantine : 64;
            quarantine = realloc(quarantine, (size_t)cap_quarantine * sizeof *quarantine);
        }
        quarantine[n_quarantine++] = allocs[i];
    } else free(allocs[i].raw);
    allocs[i] = allocs[--n_allocs];
}

/* No sync, like the real one: the caller must know the device no longer uses the memory. */
int32_t aclrtFree(void *ptr) {
    pthread_mutex_lock(&lock);
    int32_t ret = FAKE_MISUSE;
    if (poisoned) ret = after_fault("aclrtFree");
    else {
        for (int64_t i = 0; i < n_allocs; i++) {
            if (allocs[i].base == ptr) {
                release_alloc(i);
                ret = 0;
                break;
            }
        }
        if (ret) misuse("aclrtFree", "%p is not the start of a live allocation", ptr);
    }
    if (log_file) {
        fprintf(log_file, "{\"fn\":\"aclrtFree\",\"pid\":%d,\"ret\":%d}\n", (int)getpid(), ret);
        fflush(log_file);
    }
    pthread_mutex_unlock(&lock);
    return ret;
}

/* Waits until no launch touches the memory, then frees it. */
int32_t aclrtFreeWithDevSync(void *ptr) {
    pthread_mutex_lock(&lock);
    int32_t ret = FAKE_MISUSE;
    if (poisoned) ret = after_fault("aclrtFreeWithDevSync");
    else {
        for (int64_t i = 0; i < n_allocs; i++) {
            if (allocs[i].base == ptr) {
                while (in_running_launch(&allocs[i])) pthread_cond_wait(&kernel_done, &lock);
                release_alloc(i);
                ret = 0;
                break;
            }
        }
        if (ret) misuse("aclrtFreeWithDevSync", "%p is not the start of a live allocation", ptr);
    }
    if (log_file) {
        fprintf(log_file, "{\"fn\":\"aclrtFreeWithDevSync\",\"pid\":%d,\"ret\":%d}\n", (int)getpid(), ret);
        fflush(log_file);
    }
    pthread_mutex_unlock(&lock);
    return ret;
}


/* kind: 0 host->host, 1 host->device, 2 device->host, 3 device->device */
int32_t aclrtMemcpy(void *dst, size_t dest_max, const void *src, size_t count, int32_t kind) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    int dst_dev = kind == 1 || kind == 3, src_dev = kind == 2 || kind == 3;
    if (poisoned) ret = after_fault("aclrtMemcpy");
    else if (kind < 0 || kind > 3) { misuse("aclrtMemcpy", "unknown kind %d", kind); ret = FAKE_MISUSE; }
    else if (count > dest_max) { misuse("aclrtMemcpy", "count %zu > destMax %zu", count, dest_max); ret = FAKE_MISUSE; }
    else if (count && (dst == NULL || src == NULL)) { misuse("aclrtMemcpy", "null pointer"); ret = FAKE_MISUSE; }
    else if (count && dst_dev && !find_alloc(dst, count)) {
        misuse("aclrtMemcpy", "destination [%p, +%zu) is not inside a live device allocation", dst, count);
        ret = FAKE_MISUSE;
    } else if (count && src_dev && !find_alloc(src, count)) {
        misuse("aclrtMemcpy", "source [%p, +%zu) is not inside a live device allocation", src, count);
        ret = FAKE_MISUSE;
    } else if (count) memcpy(dst, src, count);
    if (ret == 0 && log_file) {
        fprintf(log_file, "{\"fn\":\"aclrtMemcpy\",\"pid\":%d,\"kind\":%d,\"count\":%zu}\n", (int)getpid(),
                kind, count);
        fflush(log_file);
    }
    pthread_mutex_unlock(&lock);
    return ret;
}

int32_t aclrtMemset(void *dev, size_t max_count, int32_t value, size_t count) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    if (poisoned) ret = after_fault("aclrtMemset");
    else if (count > max_count) { misuse("aclrtMemset", "count %zu > maxCount %zu", count, max_count); ret = FAKE_MISUSE; }
    else if (count && !find_alloc(dev, count)) {
        misuse("aclrtMemset", "[%p, +%zu) is not inside a live device allocation", dev, count); ret = FAKE_MISUSE;
    } else if (count) memset(dev, value, count);
    pthread_mutex_unlock(&lock);
    return ret;
}

/* ---------------------------------- libnnopbase ----------------------------------------- */
static int dtype_size(int64_t dtype) {
    switch (dtype) {
    case 0: case 3: case 8: return 4;          /* FLOAT, INT32, UINT32 */
    case 1: case 6: case 7: case 27: return 2; /* FLOAT16, INT16, UINT16, BF16 */
    case 2: case 4: case 12: return 1;         /* INT8, UINT8, BOOL */
    case 9: case 10: case 11: return 8;        /* INT64, UINT64, DOUBLE */
    default: return 0;
    }
}

static int known_format(int64_t f) {
    static const int64_t formats[] = {0, 1, 2, 3, 4, 12, 16, 27, 29, 30, 32, 33, 35, 47};
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        if (formats[i] == f) return 1;
    return 0;
}

void *aclCreateTensor(const int64_t *view_dims, uint64_t view_num, int32_t dtype, const int64_t *stride,
                      int64_t offset, int32_t format, const int64_t *storage_dims, uint64_t storage_num,
                      void *data) {
    const char *fn = "aclCreateTensor";
    fake_tensor *t = NULL;
    int64_t strides[MAX_DIMS];
    pthread_mutex_lock(&lock);
    int strict = strict_checks();
    if (poisoned) { after_fault(fn); goto out; }
    if (strict < 0) {
        misuse(fn, "FAKE_ACL_STRICT=%s: expected 1 (check every descriptor) or 0 / unset (lenient, as "
               "opbase's aclCreateTensor)", getenv("FAKE_ACL_STRICT"));
        goto out;
    }
    if ((view_num && view_dims == NULL) || (storage_num && storage_dims == NULL)) {  /* opbase's check */
        if (strict) misuse(fn, "viewDims or storageDims is null with a non-zero count");
        else refuse_quietly(fn, "viewDims or storageDims is null with a non-zero count");
        goto out;
    }
    if (view_num > MAX_DIMS) { misuse(fn, "viewDimsNum %" PRIu64 " > %d", view_num, MAX_DIMS); goto out; }
    if (storage_num > MAX_DIMS) { misuse(fn, "storageDimsNum %" PRIu64 " > %d", storage_num, MAX_DIMS); goto out; }
    if (dtype_size(dtype) == 0) { misuse(fn, "unknown aclDataType %d", dtype); goto out; }
    for (uint64_t i = 0; i < view_num; i++)
        if (view_dims[i] < 0) { misuse(fn, "viewDims[%" PRIu64 "] = %" PRId64 " < 0", i, view_dims[i]); goto out; }
    for (uint64_t i = 0; i < storage_num; i++)
        if (storage_dims[i] < 0) { misuse(fn, "storageDims[%" PRIu64 "] < 0", i); goto out; }
    if (stride == NULL && view_num && strict) { misuse(fn, "stride is null with viewDimsNum %" PRIu64, view_num); goto out; }
    for (int64_t i = (int64_t)view_num - 1, acc = 1; i >= 0; i--) {  /* null: contiguous, as opbase */
        strides[i] = stride ? stride[i] : acc;
        acc *= view_dims[i] ? view_dims[i] : 1;
    }
    int64_t isz = dtype_size(dtype), lo = offset, hi = offset, storage = 1, empty = 0;
    for (uint64_t i = 0; i < view_num; i++) {
        if (view_dims[i] == 0) empty = 1;
        else if (strides[i] < 0) lo += (view_dims[i] - 1) * strides[i];
        else hi += (view_dims[i] - 1) * strides[i];
    }
    for (uint64_t i = 0; i < storage_num; i++) storage *= storage_dims[i];
    int64_t bytes = storage * isz;
    if (strict) {
        for (uint64_t i = 0; i < view_num; i++)
            if (strides[i] < 0) { misuse(fn, "stride[%" PRIu64 "] = %" PRId64 " < 0", i, strides[i]); goto out; }
        if (!known_format(format)) { misuse(fn, "unknown aclFormat %d", format); goto out; }
        if (offset != 0) { misuse(fn, "offset (argument 5) must be 0 here, got %" PRId64, offset); goto out; }
        if (!empty && hi + 1 > storage) {
            misuse(fn, "the view reaches element %" PRId64 " but the storage holds %" PRId64
                   " (strides inconsistent with storageDims)", hi + 1, storage);
            goto out;
        }
        if (bytes > 0) {
            if (data == NULL) { misuse(fn, "tensorData is null for %" PRId64 " bytes of storage", bytes); goto out; }
            if ((uintptr_t)data % 32) { misuse(fn, "tensorData %p is not 32-byte aligned", data); goto out; }
            if (!find_alloc(data, 1)) { misuse(fn, "tensorData %p is not inside a live device allocation", data); goto out; }
        }
    }
    t = calloc(1, sizeof *t);
    t->magic = TENSOR_MAGIC; t->id = next_id++; t->live = 1; t->ndim = (int64_t)view_num;
    for (uint64_t i = 0; i < view_num; i++) { t->view[i] = view_dims[i]; t->strides[i] = strides[i]; }
    t->nstorage = (int64_t)storage_num;
    for (uint64_t i = 0; i < storage_num; i++) t->storage[i] = storage_dims[i];
    t->offset = offset; t->dtype = dtype; t->format = format; t->storage_bytes = bytes; t->data = data;
    t->reach_lo = empty ? 0 : lo * isz;
    t->reach_hi = empty ? 0 : (hi + 1) * isz;
    push_handle(t);
    if (log_file) {
        allocation *a = data ? find_alloc(data, 0) : NULL;
        fprintf(log_file, "{\"fn\":\"%s\",\"pid\":%d,\"id\":%" PRId64 ",\"view\":", fn, (int)getpid(), t->id);
        json_ints(log_file, t->view, t->ndim);
        fputs(",\"strides\":", log_file);
        json_ints(log_file, t->strides, t->ndim);
        fprintf(log_file, ",\"offset\":%" PRId64 ",\"dtype\":%d,\"format\":%d,\"storage\":", offset, dtype, format);
        json_ints(log_file, t->storage, t->nstorage);
        fprintf(log_file, ",\"alloc\":%" PRId64 ",\"alloc_offset\":%" PRId64 ",\"alloc_size\":%" PRIu64
                ",\"strict\":%s}\n", a ? a->id : 0, a ? (int64_t)((char *)data - a->base) : -1, a ? a->size : 0,
                strict ? "true" : "false");
        fflush(log_file);
    }
out:
    pthread_mutex_unlock(&lock);
    return t;
}

/* Whether the bytes a tensor's view reaches lie in one live allocation. Call with the lock held. */
static int reach_is_live(const fake_tensor *t) {
    if (t->reach_hi <= t->reach_lo) return 1;
    if (t->data == NULL) return 0;
    return find_alloc((char *)t->data + t->reach_lo, (uint64_t)(t->reach_hi - t->reach_lo)) != NULL;
}

int32_t aclDestroyTensor(const void *tensor) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    if (poisoned) ret = after_fault("aclDestroyTensor");
    else if (!known_handle(tensor, TENSOR_MAGIC) || !((fake_tensor *)tensor)->live) {
        misuse("aclDestroyTensor", "not a live tensor: %p", tensor); ret = FAKE_MISUSE;
    } else ((fake_tensor *)tensor)->live = 0;
    pthread_mutex_unlock(&lock);
    return ret;
}

void *aclCreateIntArray(const int64_t *value, uint64_t size) {
    fake_int_array *a = NULL;
    pthread_mutex_lock(&lock);
    if (poisoned) after_fault("aclCreateIntArray");
    else if (size > MAX_INT_ARRAY) misuse("aclCreateIntArray", "size %" PRIu64 " > %d", size, MAX_INT_ARRAY);
    else if (size && value == NULL) misuse("aclCreateIntArray", "value is null with size %" PRIu64, size);
    else {
        a = calloc(1, sizeof *a);
        a->magic = ARRAY_MAGIC; a->id = next_id++; a->live = 1; a->size = (int64_t)size;
        a->values = malloc((size ? size : 1) * sizeof(int64_t));
        if (size) memcpy(a->values, value, size * sizeof(int64_t));
        push_handle(a);
        if (log_file) {
            fprintf(log_file, "{\"fn\":\"aclCreateIntArray\",\"pid\":%d,\"id\":%" PRId64 ",\"values\":",
                    (int)getpid(), a->id);
            json_ints(log_file, a->values, a->size);
            fputs("}\n", log_file);
            fflush(log_file);
        }
    }
    pthread_mutex_unlock(&lock);
    return a;
}

int32_t aclDestroyIntArray(const void *array) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    if (poisoned) ret = after_fault("aclDestroyIntArray");
    else if (!known_handle(array, ARRAY_MAGIC) || !((fake_int_array *)array)->live) {
        misuse("aclDestroyIntArray", "not a live int array: %p", array); ret = FAKE_MISUSE;
    } else ((fake_int_array *)array)->live = 0;
    pthread_mutex_unlock(&lock);
    return ret;
}

int32_t aclDestroyAclOpExecutor(void *executor) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    fake_executor *e = executor;
    if (poisoned) ret = after_fault("aclDestroyAclOpExecutor");
    else if (!known_handle(e, EXEC_MAGIC) || e->destroyed) {
        misuse("aclDestroyAclOpExecutor", "not a live executor: %p", executor); ret = FAKE_MISUSE;
    } else if (e->used) {
        misuse("aclDestroyAclOpExecutor", "executor %" PRId64 " was consumed by the second stage", e->id);
        ret = FAKE_MISUSE;
    } else e->destroyed = 1;
    if (log_file) {
        fprintf(log_file, "{\"fn\":\"aclDestroyAclOpExecutor\",\"pid\":%d,\"executor\":%" PRId64 ",\"ret\":%d}\n",
                (int)getpid(), known_handle(e, EXEC_MAGIC) ? e->id : 0, ret);
        fflush(log_file);
    }
    pthread_mutex_unlock(&lock);
    return ret;
}

/* ---------------------------------- libhccl --------------------------------------------- */
typedef struct { char internal[ROOT_INFO_BYTES]; } HcclRootInfo;

int32_t HcclGetRootInfo(HcclRootInfo *info) {
    static int64_t counter;
    if (info == NULL) return 1; /* HCCL_E_PARA */
    pthread_mutex_lock(&lock);
    memset(info, 0, sizeof *info);
    snprintf(info->internal, sizeof info->internal, "FAKEROOT:%d:%" PRId64, (int)getpid(), ++counter);
    pthread_mutex_unlock(&lock);
    return 0;
}

int32_t HcclCommInitRootInfo(uint32_t n_ranks, const HcclRootInfo *info, uint32_t rank, void **comm) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    if (poisoned) ret = after_fault("HcclCommInitRootInfo");
    else if (info == NULL || comm == NULL || strncmp(info->internal, "FAKEROOT:", 9) != 0) {
        misuse("HcclCommInitRootInfo", "null pointer or a root info not made by HcclGetRootInfo"); ret = 1;
    } else if (rank >= n_ranks) {
        misuse("HcclCommInitRootInfo", "rank %u >= nRanks %u", rank, n_ranks); ret = 1;
    } else {
        fake_comm *c = calloc(1, sizeof *c);
        c->magic = COMM_MAGIC; c->rank = rank; c->size = n_ranks; c->live = 1;
        snprintf(c->name, sizeof c->name, "fake_hccl_%s", info->internal + 9);
        for (char *p = c->name; *p; p++) if (*p == ':') *p = '_';
        push_handle(c);
        *comm = c;
        if (log_file) {
            fprintf(log_file, "{\"fn\":\"HcclCommInitRootInfo\",\"pid\":%d,\"rank\":%u,\"n_ranks\":%u,\"name\":",
                    (int)getpid(), rank, n_ranks);
            json_string(log_file, c->name);
            fputs("}\n", log_file);
            fflush(log_file);
        }
    }
    pthread_mutex_unlock(&lock);
    return ret;
}

int32_t HcclGetCommName(void *comm, char *name) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    if (!known_handle(comm, COMM_MAGIC) || !((fake_comm *)comm)->live || name == NULL) {
        misuse("HcclGetCommName", "not a live communicator or null name buffer"); ret = 1;
    } else memcpy(name, ((fake_comm *)comm)->name, COMM_NAME_BYTES);
    pthread_mutex_unlock(&lock);
    return ret;
}

int32_t HcclCommDestroy(void *comm) {
    pthread_mutex_lock(&lock);
    int32_t ret = 0;
    if (poisoned) ret = after_fault("HcclCommDestroy");
    else if (!known_handle(comm, COMM_MAGIC) || !((fake_comm *)comm)->live) {
        misuse("HcclCommDestroy", "not a live communicator"); ret = 1;
    } else ((fake_comm *)comm)->live = 0;
    pthread_mutex_unlock(&lock);
    return ret;
}

/* ---------------------------------- libopapi -------------------------------------------- */
static void log_tensor_arg(int i, const fake_tensor *t) {
    fprintf(log_file, "%s\"%s\":", i ? "," : "", TENSOR_NAMES[i]);
    if (t) fprintf(log_file, "%" PRId64, t->id);
    else fputs("null", log_file);
}

/* The kernel binaries nnopbase loads: some binary_info_config.json under ASCEND_OPP_PATH. */
static int kernels_installed(void) {
    const char *opp = getenv("ASCEND_OPP_PATH");
    static const char *patterns[] = {"%s/built-in/op_impl/ai_core/tbe/kernel/config/*/binary_info_config.json",
                                     "%s/vendors/*/op_impl/ai_core/tbe/kernel/config/*/binary_info_config.json"};
    if (opp == NULL || *opp == 0) return 0;
    for (size_t i = 0; i < sizeof patterns / sizeof *patterns; i++) {
        char pattern[4096];
        glob_t g;
        snprintf(pattern, sizeof pattern, patterns[i], opp);
        int found = glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0;
        globfree(&g);
        if (found) return 1;
    }
    return 0;
}

static int32_t first_stage(
    const char *fn, int op, int v2, const char *comm_mode, const void *gmm_x, const void *gmm_weight, const void *send_counts_tensor, const void *recv_counts_tensor,
    const void *mm_x, const void *mm_weight, const char *group, int64_t ep_world_size, const void *send_counts,
    const void *recv_counts, _Bool trans_gmm_weight, _Bool trans_mm_weight, _Bool permute_out_flag,
    void *gmm_y, void *mm_y, void *permute_out, uint64_t *workspace_size, void **executor) {
    const void *args[N_TENSORS] = {gmm_x, gmm_weight, send_counts_tensor, recv_counts_tensor, mm_x,
                                   mm_weight, gmm_y, mm_y, permute_out};
    fake_call call;
    memset(&call, 0, sizeof call);
    current_op = op;
    pthread_mutex_lock(&lock);
    if (poisoned) {
        int32_t ret = after_fault(fn);
        pthread_mutex_unlock(&lock);
        return ret;
    }
    for (int i = 0; i < N_TENSORS; i++) {
        if (args[i] && (!known_handle(args[i], TENSOR_MAGIC) || !((fake_tensor *)args[i])->live)) {
            misuse(fn, "%s is neither null nor a live aclTensor: %p", TENSOR_NAMES[i], args[i]);
            pthread_mutex_unlock(&lock);
            return FAKE_MISUSE;
        }
        call.tensors[i] = (fake_tensor *)args[i];
        if (call.tensors[i]) call.tensors[i]->readable = reach_is_live(call.tensors[i]);
    }
    const void *arrays[2] = {send_counts, recv_counts};
    for (int i = 0; i < 2; i++) {
        if (arrays[i] && (!known_handle(arrays[i], ARRAY_MAGIC) || !((fake_int_array *)arrays[i])->live)) {
            misuse(fn, "%s is neither null nor a live aclIntArray: %p", i ? "recvCounts" : "sendCounts", arrays[i]);
            pthread_mutex_unlock(&lock);
            return FAKE_MISUSE;
        }
    }
    if (group && strnlen(group, GROUP_MAX) == GROUP_MAX) {
        misuse(fn, "group is not a NUL-terminated string within %d bytes", GROUP_MAX);
        pthread_mutex_unlock(&lock);
        return FAKE_MISUSE;
    }
    call.call_id = next_id++;
    call.group = group;
    call.ep_world_size = ep_world_size;
    call.send_counts = (fake_int_array *)send_counts;
    call.recv_counts = (fake_int_array *)recv_counts;
    call.trans_gmm_weight = trans_gmm_weight;
    call.trans_mm_weight = trans_mm_weight;
    call.permute_out_flag = permute_out_flag;
    call.workspace_size_null = workspace_size == NULL;
    call.executor_null = executor == NULL;
    call.comm_mode = comm_mode;
    call.entry_v2 = v2;
    call.op = op;
    fake_stage1_fn cb = stage1_cb;
    if (log_file) {
        fprintf(log_file, "{\"fn\":\"%s\",\"pid\":%d,\"call\":%" PRId64 ",\"tensors\":{", fn, (int)getpid(), call.call_id);
        for (int i = 0; i < n_tensors_of(op); i++) log_tensor_arg(i, call.tensors[i]);
        fputs("},\"group\":", log_file);
        if (group) json_string(log_file, group);
        else fputs("null", log_file);
        if (v2) {
            fputs(",\"comm_mode\":", log_file);
            if (comm_mode) json_string(log_file, comm_mode);
            else fputs("null", log_file);
        }
        fprintf(log_file, ",\"ep_world_size\":%" PRId64 ",\"send_counts\":", ep_world_size);
        if (send_counts) fprintf(log_file, "%" PRId64, ((fake_int_array *)send_counts)->id);
        else fputs("null", log_file);
        fputs(",\"recv_counts\":", log_file);
        if (recv_counts) fprintf(log_file, "%" PRId64, ((fake_int_array *)recv_counts)->id);
        else fputs("null", log_file);
        fprintf(log_file, ",\"trans_gmm_weight\":%s,\"trans_mm_weight\":%s,",
                trans_gmm_weight ? "true" : "false", trans_mm_weight ? "true" : "false");
        if (op == OP_DISPATCH)
            fprintf(log_file, "\"permute_out_flag\":%s,", permute_out_flag ? "true" : "false");
        fprintf(log_file, "\"workspace_size_ptr_null\":%s,\"executor_ptr_null\":%s}\n",
                workspace_size ? "false" : "true", executor ? "false" : "true");
        fflush(log_file);
    }
    pthread_mutex_unlock(&lock);
    if (cb == NULL) {
        pthread_mutex_lock(&lock);
        misuse(fn, "no operator registered (fake_set_operator)");
        pthread_mutex_unlock(&lock);
        return FAKE_NO_OPERATOR;
    }
    uint64_t size = 0;
    int32_t status = cb(&call, &size);
    pthread_mutex_lock(&lock);
    if (status == 0 && !kernels_installed()) {  /* the arguments passed; now the kernel is looked up */
        const char *opp = getenv("ASCEND_OPP_PATH");
        misuse(fn, "EZ1001: [PID: %d] Get path and read binary_info_config.json failed, please check if the "
               "opp_kernel package is installed! (ASCEND_OPP_PATH=%s)", (int)getpid(), opp ? opp : "unset");
        status = ACLNN_ERR_INNER_FIND_KERNEL_ERROR;
    }
    if (status == 0 && workspace_size) *workspace_size = size;
    if (status == 0 && executor) {
        fake_executor *e = calloc(1, sizeof *e);
        e->magic = EXEC_MAGIC; e->id = call.call_id;
        memcpy(e->tensors, call.tensors, sizeof e->tensors);
        e->arrays[0] = call.send_counts; e->arrays[1] = call.recv_counts;
        e->op = op;
        push_handle(e);
        *executor = e;
    }
    if (log_file) {
        fprintf(log_file, "{\"fn\":\"%s.return\",\"pid\":%d,\"call\":%" PRId64 ",\"status\":%d,\"workspace_size\":%"
                PRIu64 "}\n", fn, (int)getpid(), call.call_id, status, size);
        fflush(log_file);
    }
    pthread_mutex_unlock(&lock);
    return status;
}

static int32_t second_stage(const char *fn, void *workspace, uint64_t workspace_size, void *executor, void *stream) {
    fake_executor *e = executor;
    pthread_mutex_lock(&lock);
    current_op = known_handle(e, EXEC_MAGIC) ? (int)e->op : OP_DISPATCH;
    if (poisoned) {
        int32_t ret = after_fault(fn);
        pthread_mutex_unlock(&lock);
        return ret;
    }
    if (log_file) {
        fprintf(log_file, "{\"fn\":\"%s\",\"pid\":%d,\"workspace_null\":%s,\"workspace_size\":%" PRIu64
                ",\"executor\":%" PRId64 ",\"stream_null\":%s}\n", fn, (int)getpid(),
                workspace ? "false" : "true", workspace_size, known_handle(e, EXEC_MAGIC) ? e->id : 0,
                stream ? "false" : "true");
        fflush(log_file);
    }
    int32_t bad = 0;
    if (e && (!known_handle(e, EXEC_MAGIC) || e->destroyed)) {
        misuse(fn, "executor %p is not a live aclOpExecutor", executor); bad = 1;
    } else if (e && e->used) {
        misuse(fn, "executor %" PRId64 " was already consumed by a second stage", e->id); bad = 1;
    } else if (!known_handle(stream, STREAM_MAGIC) || !((fake_stream *)stream)->live) {
        misuse(fn, "stream %p is not a live aclrtStream", stream); bad = 1;
    } else if (workspace && workspace_size && !find_alloc(workspace, workspace_size)) {
        misuse(fn, "workspace [%p, +%" PRIu64 ") is not inside a live device allocation", workspace, workspace_size);
        bad = 1;
    } else if (workspace && (uintptr_t)workspace % 32) {
        misuse(fn, "workspace %p is not 32-byte aligned", workspace); bad = 1;
    }
    int strict = strict_checks() > 0;
    for (int i = 0; !bad && e && i < N_TENSORS; i++) {
        fake_tensor *t = e->tensors[i];
        if (t && !t->live) {
            misuse(fn, "%s was destroyed before the second stage", TENSOR_NAMES[i]); bad = 1;
        } else if (strict && t && t->storage_bytes && !find_alloc(t->data, (uint64_t)t->storage_bytes)) {
            misuse(fn, "%s: its storage [%p, +%" PRId64 ") is not inside a live device allocation",
                   TENSOR_NAMES[i], t->data, t->storage_bytes);
            bad = 1;
        }
    }
    for (int i = 0; !bad && e && i < 2; i++) {
        if (e->arrays[i] && !e->arrays[i]->live) {
            misuse(fn, "%s was destroyed before the second stage", i ? "recvCounts" : "sendCounts"); bad = 1;
        }
    }
    /* The kernel touches what each descriptor reaches: outside live memory that is a device fault,
     * seen at the next sync, and the kernel never runs to its end. */
    const fake_tensor *wild = NULL;
    for (int i = 0; !bad && e && i < N_TENSORS && wild == NULL; i++) {
        fake_tensor *t = e->tensors[i];
        if (t && (!t->readable || !reach_is_live(t))) wild = t;
    }
    if (!bad && e) e->used = 1;
    fake_stage2_fn cb = stage2_cb;
    fake_stream *s = stream;
    if (wild != NULL) {
        int w = 0;
        while (e->tensors[w] != wild) w++;
        s->error = ACL_ERROR_RT_AICORE_EXCEPTION;
        snprintf(s->error_text, sizeof s->error_text, "EZ9999: Inner Error! The error from device(chipId:%d, "
                 "dieId:0), serial number is 1, there is an aicore error exception, core id is 0, error code = "
                 "0x800000 (%s: %s reaches [%p, +%" PRId64 "), outside every device allocation)", current_device,
                 fn, TENSOR_NAMES[w], (void *)((char *)wild->data + wild->reach_lo), wild->reach_hi - wild->reach_lo);
        if (log_file) {
            fprintf(log_file, "{\"fn\":\"%s.return\",\"pid\":%d,\"executor\":%" PRId64 ",\"status\":0,"
                    "\"device_fault\":", fn, (int)getpid(), e->id);
            json_string(log_file, s->error_text);
            fputs("}\n", log_file);
            fflush(log_file);
        }
        pthread_mutex_unlock(&lock);
        return 0;
    }
    pthread_mutex_unlock(&lock);
    if (bad) return FAKE_MISUSE;
    if (cb == NULL) return FAKE_NO_OPERATOR;
    int32_t status = cb(e ? e->id : 0, workspace, workspace_size);
    pthread_mutex_lock(&lock);
    if (status != 0 && e) e->used = 0;  /* a failed launch leaves the executor to aclDestroyAclOpExecutor */
    int32_t fault = status == 0 ? take_planted_fault() : 0;
    if (fault) {
        s->error = fault;
        snprintf(s->error_text, sizeof s->error_text, "EZ9999: Inner Error! The error from device(chipId:%d, "
                 "dieId:0), serial number is 1, there is an %s, core id is 0, error code = 0x800000 (%s)",
                 current_device, fault_name(fault), fn);
    }
    const char *ms = getenv("FAKE_ACL_KERNEL_MS");
    if (status == 0 && e && ms && atoi(ms) > 0) {
        s->n_ranges = 0;
        allocation *w = workspace ? find_alloc(workspace, 1) : NULL;
        for (int i = 0; i <= N_TENSORS; i++) {
            allocation *a = i < N_TENSORS ? (e->tensors[i] && e->tensors[i]->data ? find_alloc(e->tensors[i]->data, 1) : NULL) : w;
            int seen = a == NULL;
            for (int r = 0; !seen && r < s->n_ranges; r++) seen = s->ranges[r].p == a->base;
            if (!seen) s->ranges[s->n_ranges++] = (range){a->base, a->size};
        }
        s->until = ms_from_now(atoi(ms));
        s->running = 1;
        pthread_t t;
        if (pthread_create(&t, NULL, device_work, s) == 0) pthread_detach(t);
        else s->running = 0;
    }
    if (log_file) {
        fprintf(log_file, "{\"fn\":\"%s.return\",\"pid\":%d,\"executor\":%" PRId64 ",\"status\":%d}\n", fn,
                (int)getpid(), e ? e->id : 0, status);
        fflush(log_file);
    }
    pthread_mutex_unlock(&lock);
    return status;
}

/* Every operator's second stage: aclnnXxx(workspace, workspaceSize, executor, stream). */
#define SECOND_STAGE(name)                                                                        \
    int32_t name(void *workspace, uint64_t workspace_size, void *executor, void *stream) {       \
        return second_stage(#name, workspace, workspace_size, executor, stream);                 \
    }

int32_t aclnnAlltoAllvGroupedMatMulGetWorkspaceSize(
    const void *gmm_x, const void *gmm_weight, const void *send_counts_tensor, const void *recv_counts_tensor,
    const void *mm_x, const void *mm_weight, const char *group, int64_t ep_world_size, const void *send_counts,
    const void *recv_counts, _Bool trans_gmm_weight, _Bool trans_mm_weight, _Bool permute_out_flag,
    void *gmm_y, void *mm_y, void *permute_out, uint64_t *workspace_size, void **executor) {
    return first_stage("aclnnAlltoAllvGroupedMatMulGetWorkspaceSize", OP_DISPATCH, 0, NULL, gmm_x, gmm_weight,
                       send_counts_tensor, recv_counts_tensor, mm_x, mm_weight, group, ep_world_size, send_counts,
                       recv_counts, trans_gmm_weight, trans_mm_weight, permute_out_flag, gmm_y, mm_y, permute_out,
                       workspace_size, executor);
}

SECOND_STAGE(aclnnAlltoAllvGroupedMatMul)

#ifndef FAKE_ACL_NO_V2
/* V2: commMode right after group (contracts/alltoallv_gmm-v2.md); the operator callback sees it. */
int32_t aclnnAlltoAllvGroupedMatMulV2GetWorkspaceSize(
    const void *gmm_x, const void *gmm_weight, const void *send_counts_tensor, const void *recv_counts_tensor,
    const void *mm_x, const void *mm_weight, const char *group, const char *comm_mode, int64_t ep_world_size,
    const void *send_counts, const void *recv_counts, _Bool trans_gmm_weight, _Bool trans_mm_weight,
    _Bool permute_out_flag, void *gmm_y, void *mm_y, void *permute_out, uint64_t *workspace_size, void **executor) {
    return first_stage("aclnnAlltoAllvGroupedMatMulV2GetWorkspaceSize", OP_DISPATCH, 1, comm_mode, gmm_x, gmm_weight,
                       send_counts_tensor, recv_counts_tensor, mm_x, mm_weight, group, ep_world_size, send_counts,
                       recv_counts, trans_gmm_weight, trans_mm_weight, permute_out_flag, gmm_y, mm_y, permute_out,
                       workspace_size, executor);
}

SECOND_STAGE(aclnnAlltoAllvGroupedMatMulV2)
#endif

/* The combine (contracts/gmm_alltoallv.md section 3), in its prototype's order. */
int32_t aclnnGroupedMatMulAlltoAllvGetWorkspaceSize(
    const void *gmm_x, const void *gmm_weight, const void *send_counts_tensor, const void *recv_counts_tensor,
    const void *mm_x, const void *mm_weight, const char *group, int64_t ep_world_size, const void *send_counts,
    const void *recv_counts, _Bool trans_gmm_weight, _Bool trans_mm_weight, void *y, void *mm_y,
    uint64_t *workspace_size, void **executor) {
    return first_stage("aclnnGroupedMatMulAlltoAllvGetWorkspaceSize", OP_COMBINE, 0, NULL, gmm_x, gmm_weight,
                       send_counts_tensor, recv_counts_tensor, mm_x, mm_weight, group, ep_world_size, send_counts,
                       recv_counts, trans_gmm_weight, trans_mm_weight, 0, y, mm_y, NULL, workspace_size, executor);
}

SECOND_STAGE(aclnnGroupedMatMulAlltoAllv)

#ifndef FAKE_ACL_NO_V2
/* V2: commMode right after group. */
int32_t aclnnGroupedMatMulAlltoAllvV2GetWorkspaceSize(
    const void *gmm_x, const void *gmm_weight, const void *send_counts_tensor, const void *recv_counts_tensor,
    const void *mm_x, const void *mm_weight, const char *group, const char *comm_mode, int64_t ep_world_size,
    const void *send_counts, const void *recv_counts, _Bool trans_gmm_weight, _Bool trans_mm_weight, void *y,
    void *mm_y, uint64_t *workspace_size, void **executor) {
    return first_stage("aclnnGroupedMatMulAlltoAllvV2GetWorkspaceSize", OP_COMBINE, 1, comm_mode, gmm_x,
                       gmm_weight, send_counts_tensor, recv_counts_tensor, mm_x, mm_weight, group, ep_world_size,
                       send_counts, recv_counts, trans_gmm_weight, trans_mm_weight, 0, y, mm_y, NULL,
                       workspace_size, executor);
}

SECOND_STAGE(aclnnGroupedMatMulAlltoAllvV2)
#endif
