/*
 * The process families (metrics.h, metrics_collect_process), read from
 * /proc/self at scrape time under the names every Prometheus client library
 * uses, so dashboards made for other services work unchanged. A file that
 * cannot be read leaves its families out of the scrape.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/metrics.h"

/* What /proc/self/stat says, from the fields after the command name. */
struct metrics_proc_stat {
	double ps_cpu_seconds; /* utime + stime */
	double ps_threads;
	double ps_start_ticks; /* since boot */
	double ps_vsize; /* bytes */
	double ps_rss_pages;
};

static int metrics_read_file(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "re");
	size_t len;

	if (f == NULL)
		return -1;
	len = fread(buf, 1, n - 1, f);
	fclose(f);
	buf[len] = '\0';
	return len > 0 ? 0 : -1;
}

static int metrics_proc_stat(struct metrics_proc_stat *ps)
{
	char buf[1024];
	const char *p;
	unsigned long utime, stime, vsize;
	long threads, rss;
	unsigned long long start;

	if (metrics_read_file("/proc/self/stat", buf, sizeof(buf)) != 0 || (p = strrchr(buf, ')')) == NULL)
		return -1;
	/* Fields 3.. after "pid (comm)": state ppid pgrp session tty_nr tpgid
	 * flags minflt cminflt majflt cmajflt utime(14) stime(15) cutime cstime
	 * priority nice num_threads(20) itrealvalue starttime(22) vsize(23)
	 * rss(24). */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %ld %*d %llu %lu %ld",
		   &utime, &stime, &threads, &start, &vsize, &rss) != 6)
		return -1;
	long hz = sysconf(_SC_CLK_TCK);
	ps->ps_cpu_seconds = (double)(utime + stime) / (double)(hz > 0 ? hz : 100);
	ps->ps_threads = (double)threads;
	ps->ps_start_ticks = (double)start;
	ps->ps_vsize = (double)vsize;
	ps->ps_rss_pages = (double)rss;
	return 0;
}

/* The boot time in seconds since the epoch (btime of /proc/stat); -1. */
static double metrics_boot_time(void)
{
	char buf[8192];
	const char *p;

	if (metrics_read_file("/proc/stat", buf, sizeof(buf)) != 0 || (p = strstr(buf, "\nbtime ")) == NULL)
		return -1;
	return strtod(p + 7, NULL);
}

/* Open descriptors, without the one reading the directory; -1. */
static double metrics_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	const struct dirent *e;
	double n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static void metrics_gauge(struct dbuf *out, const char *name, const char *help, double v)
{
	metrics_write_family(out, name, help, METRICS_GAUGE);
	metrics_write_sample(out, name, NULL, NULL, 0, v);
}

void metrics_collect_process(void *arg, void *ctx, struct dbuf *out)
{
	struct metrics_proc_stat ps;
	struct rlimit rl;
	double fds = metrics_open_fds(), boot = metrics_boot_time();
	long page = sysconf(_SC_PAGESIZE), hz = sysconf(_SC_CLK_TCK);

	(void)arg;
	(void)ctx;
	if (metrics_proc_stat(&ps) == 0) {
		metrics_write_family(out, "process_cpu_seconds_total", "User and system CPU time spent, in seconds.",
				     METRICS_COUNTER);
		metrics_write_sample(out, "process_cpu_seconds_total", NULL, NULL, 0, ps.ps_cpu_seconds);
		metrics_gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
			      ps.ps_rss_pages * (double)(page > 0 ? page : 4096));
		metrics_gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", ps.ps_vsize);
		metrics_gauge(out, "process_threads", "Threads of the process.", ps.ps_threads);
		if (boot >= 0)
			metrics_gauge(out, "process_start_time_seconds",
				      "Start time of the process since the Unix epoch, in seconds.",
				      boot + ps.ps_start_ticks / (double)(hz > 0 ? hz : 100));
	}
	if (fds >= 0)
		metrics_gauge(out, "process_open_fds", "Open file descriptors.", fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		metrics_gauge(out, "process_max_fds", "The most file descriptors the process may open.",
			      (double)rl.rlim_cur);
}
