/*
 * fake_llm.py as a child process (see fake_llm_proc.h). Everything the child
 * needs is built before fork(), because the parent may already run threads
 * (curl, nng) and a forked child may then only make async-signal-safe calls.
 */
#include "fake_llm_proc.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAKE_LLM_PYTHON "/usr/bin/python3"
#define FAKE_LLM_READY_MS 10000
#define FAKE_LLM_STOP_MS 5000

static void fake_llm_default_script(char *buf, size_t n)
{
	char here[PATH_MAX];
	const char *env = getenv("FAKE_LLM_SCRIPT");

	if (env != NULL && env[0] != '\0') {
		snprintf(buf, n, "%s", env);
		return;
	}
	snprintf(here, sizeof(here), "%s", __FILE__);
	snprintf(buf, n, "%s/fake_llm.py", dirname(here));
}

/* Reads the first line of fd into buf within timeout_ms. */
static int fake_llm_read_line(int fd, char *buf, size_t n, int timeout_ms)
{
	size_t len = 0;
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (len + 1 < n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long spent;
		ssize_t k;

		clock_gettime(CLOCK_MONOTONIC, &t);
		spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= timeout_ms)
			return -1;
		if (poll(&pfd, 1, (int)(timeout_ms - spent)) <= 0)
			continue;
		k = read(fd, buf + len, 1);
		if (k <= 0)
			return -1;
		if (buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = '\0';
	return 0;
}

int fake_llm_start(struct fake_llm *f, const char *script)
{
	char path[PATH_MAX], line[64];
	char *argv[] = {FAKE_LLM_PYTHON, path, "--port", "0", NULL};
	int pipefd[2];
	pid_t pid;

	memset(f, 0, sizeof(*f));
	if (script != NULL)
		snprintf(path, sizeof(path), "%s", script);
	else
		fake_llm_default_script(path, sizeof(path));
	if (access(path, R_OK) != 0) {
		fprintf(stderr, "fake_llm: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(pipefd[1], STDOUT_FILENO);
		execv(FAKE_LLM_PYTHON, argv);
		_exit(127);
	}
	close(pipefd[1]);
	f->fl_pid = pid;
	if (fake_llm_read_line(pipefd[0], line, sizeof(line), FAKE_LLM_READY_MS) != 0 ||
	    (f->fl_port = atoi(line)) <= 0) {
		fprintf(stderr, "fake_llm: %s did not report a port\n", path);
		close(pipefd[0]);
		fake_llm_stop(f);
		return -1;
	}
	/* The pipe stays open in the child; closing our end only means a later
	 * print of the server would get EPIPE, and it prints nothing more. */
	close(pipefd[0]);
	snprintf(f->fl_base_url, sizeof(f->fl_base_url), "http://127.0.0.1:%d", f->fl_port);
	return 0;
}

int fake_llm_stop(struct fake_llm *f)
{
	int status;

	if (f->fl_pid <= 0)
		return -1;
	kill(f->fl_pid, SIGTERM);
	for (int waited = 0; waited < FAKE_LLM_STOP_MS; waited += 10) {
		struct timespec ts = {0, 10 * 1000000L};

		if (waitpid(f->fl_pid, &status, WNOHANG) == f->fl_pid) {
			f->fl_pid = 0;
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	kill(f->fl_pid, SIGKILL);
	waitpid(f->fl_pid, &status, 0);
	f->fl_pid = 0;
	return 0;
}

struct fake_llm_buf {
	char *b_data;
	size_t b_len;
};

static size_t fake_llm_collect(char *data, size_t size, size_t nmemb, void *userp)
{
	struct fake_llm_buf *b = userp;
	size_t n = size * nmemb;
	char *grown = realloc(b->b_data, b->b_len + n + 1);

	if (grown == NULL)
		return 0;
	memcpy(grown + b->b_len, data, n);
	b->b_len += n;
	grown[b->b_len] = '\0';
	b->b_data = grown;
	return n;
}

static int fake_llm_request(const struct fake_llm *f, const char *path, const char *body, char **reply)
{
	struct fake_llm_buf b = {0};
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	char url[256];
	long status = -1;
	CURL *c = curl_easy_init();

	if (reply != NULL)
		*reply = NULL;
	if (c == NULL || h == NULL) {
		curl_slist_free_all(h);
		if (c != NULL)
			curl_easy_cleanup(c);
		return -1;
	}
	snprintf(url, sizeof(url), "%s%s", f->fl_base_url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fake_llm_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (reply != NULL && status >= 0)
		*reply = b.b_data != NULL ? b.b_data : strdup("");
	else
		free(b.b_data);
	return (int)status;
}

int fake_llm_post(const struct fake_llm *f, const char *path, const char *body, char **reply)
{
	return fake_llm_request(f, path, body != NULL ? body : "{}", reply);
}

int fake_llm_get(const struct fake_llm *f, const char *path, char **reply)
{
	return fake_llm_request(f, path, NULL, reply);
}
