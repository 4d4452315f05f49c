/*
 * The clone3 trampoline declared in clone3_linux.h, in assembly for x86-64
 * and arm64; elsewhere it reports ENOSYS and the fork server falls back to
 * clone and a write of cgroup.procs by the child.
 */
#include "clone3_linux.h"

#include <errno.h>

#if defined(__x86_64__)
__asm__(".text\n"
	".globl rcd_clone3\n"
	".hidden rcd_clone3\n"
	".type rcd_clone3,@function\n"
	"rcd_clone3:\n"
	"	mov %rdx, %r8\n" /* fn and arg survive the syscall in r8, r9 */
	"	mov %rcx, %r9\n"
	"	mov $435, %eax\n" /* SYS_clone3 */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	xor %ebp, %ebp\n" /* the child: the outermost frame, on its own stack */
	"	mov %r9, %rdi\n"
	"	call *%r8\n"
	"	mov %eax, %edi\n"
	"	mov $60, %eax\n" /* SYS_exit */
	"	syscall\n"
	"	hlt\n"
	"1:	ret\n"
	".size rcd_clone3, .-rcd_clone3\n");
#elif defined(__aarch64__)
__asm__(".text\n"
	".globl rcd_clone3\n"
	".hidden rcd_clone3\n"
	".type rcd_clone3,%function\n"
	"rcd_clone3:\n"
	"	mov x10, x2\n" /* fn and arg survive the syscall in x10, x11 */
	"	mov x11, x3\n"
	"	mov x8, #435\n" /* SYS_clone3 */
	"	svc #0\n"
	"	cbnz x0, 1f\n"
	"	mov x29, xzr\n" /* the child: the outermost frame, on its own stack */
	"	mov x30, xzr\n"
	"	mov x0, x11\n"
	"	blr x10\n"
	"	mov x8, #93\n" /* SYS_exit */
	"	svc #0\n"
	"1:	ret\n"
	".size rcd_clone3, .-rcd_clone3\n");
#else
long rcd_clone3(struct rcd_clone_args *args, unsigned long size, int (*fn)(void *), void *arg) {
	(void)args, (void)size, (void)fn, (void)arg;
	return -ENOSYS;
}
#endif
