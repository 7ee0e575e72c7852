// Placeholder until the database harness lands: tests that need no database run without it.
export default function setup(): void {}
