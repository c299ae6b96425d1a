/* `minivmm img`: image tools. Returns the process exit status. */
#ifndef MINIVMM_IMG_H
#define MINIVMM_IMG_H

int img_main(int argc, char **argv);

#endif
