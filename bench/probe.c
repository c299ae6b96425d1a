/* Measures one process run for bench/startup.sh.
 *   probe time CMD...           prints "FIRST_MS EXIT_MS STATUS": ms from fork to the first
 *                               byte on the child's stdout, and to its exit
 *   probe rss MEM_MIB CMD...    starts CMD, waits for its first output line, lets it settle
 *                               200 ms, then prints "TOTAL_KIB GUEST_KIB OVERHEAD_KIB" from
 *                               /proc/PID/smaps: RSS of the whole process, of the guest-RAM
 *                               mapping (the anonymous mapping of at least MEM_MIB), and the
 *                               difference; then kills CMD.
 *   probe cpu CMD...            runs CMD (output passed through) and prints "USER_S SYS_S" of
 *                               its CPU time on stderr; exits with CMD's status.
 *   probe tsc                   prints the TSC's rate in MHz, measured over 500 ms (a guest's
 *                               TSC runs at the host's unless the VMM scales it: neither
 *                               minivmm nor QEMU does by default). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static pid_t spawn(char **argv, int *out_fd)
{
	int p[2];
	pid_t pid;

	if (pipe(p) < 0)
		exit(1);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", 0);

		dup2(devnull, 0);
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

static int cmd_time(char **argv)
{
	double t0 = now_ms(), first = -1;
	char buf[4096];
	int fd, status;
	ssize_t n;
	pid_t pid = spawn(argv, &fd);

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (first < 0)
			first = now_ms() - t0;
	waitpid(pid, &status, 0);
	printf("%.3f %.3f %d\n", first, now_ms() - t0, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

static int cmd_rss(unsigned long mem_mib, char **argv)
{
	char path[64], line[512], buf[256];
	unsigned long total = 0, guest = 0;
	int fd, in_guest = 0;
	pid_t pid = spawn(argv, &fd);
	FILE *f;

	if (read(fd, buf, sizeof(buf)) <= 0)
		return 1;
	usleep(200 * 1000);
	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b, off, ino, kb;
		unsigned maj, mnr;
		char perms[8], name[256] = "";
		int n = sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %255s", &a, &b, perms, &off, &maj,
			       &mnr, &ino, name);

		if (n >= 7) {
			/* A mapping header: guest RAM is anonymous and at least MEM_MIB long. */
			in_guest = ((b - a) >> 20) >= mem_mib && n == 7;
		} else if (sscanf(line, "Rss: %lu kB", &kb) == 1) {
			total += kb;
			if (in_guest)
				guest += kb;
		}
	}
	fclose(f);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	printf("%lu %lu %lu\n", total, guest, total - guest);
	return 0;
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static int cmd_tsc(void)
{
	double t0 = now_ms(), t;
	uint64_t c0 = rdtsc();

	while ((t = now_ms()) - t0 < 500)
		;
	printf("%.0f\n", (double)(rdtsc() - c0) / ((t - t0) * 1e3));
	return 0;
}

static int cmd_cpu(char **argv)
{
	struct rusage ru;
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
		return 1;
	fprintf(stderr, "%.6f %.6f\n", ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
		ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "cpu"))
		return cmd_cpu(argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "time"))
		return cmd_time(argv + 2);
	if (argc == 2 && !strcmp(argv[1], "tsc"))
		return cmd_tsc();
	if (argc >= 4 && !strcmp(argv[1], "rss"))
		return cmd_rss(strtoul(argv[2], NULL, 0), argv + 3);
	fprintf(stderr, "usage: probe time CMD... | probe rss MEM_MIB CMD... | probe cpu CMD... | probe tsc\n");
	return 2;
}
