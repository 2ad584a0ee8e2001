export async function main(argv: string[]): Promise<void> {
  process.stdout.write(`flotilla ${argv.slice(2).join(' ')}\n`);
}
