/* `minivmm ctl SOCKET COMMAND [key=value...]`: the control socket's client (vmm/api.h). */
#ifndef MINIVMM_CTL_H
#define MINIVMM_CTL_H

/* argv[0] is "ctl". Returns the process exit status: 0 on an ok reply, 1 otherwise. */
int ctl_main(int argc, char **argv);

#endif
