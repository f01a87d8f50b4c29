// Reads a Markdown guide as the steps a reader follows: its fenced code blocks in order, each with the
// `<!-- doc-test: … -->` note written just above it (invisible when the Markdown is rendered).
//
// Notes:
//   file NAME    the block is the file NAME (JSON or Python): write it into the reader's directory
//   merge NAME   the block is a fragment of the JSON file NAME: merge it in (top-level fields)
//   more         the block is what the last background command printed since its shown output
//   skip REASON  not run (say why)
// Blocks without a note: `console` is a transcript (`$ command`, then what it prints), `python` is run
// and its `# …` lines after a `print(` are what it prints; `json`, `html` and `text` are only shown.

export interface DocBlock {
  /** The fence's language (`console`, `python`, `json`, …). */
  lang: string;
  body: string;
  /** The `doc-test` note above the block, if any: `file tidings.json`, `skip …`. */
  note?: string;
  /** 1-based line of the fence in the Markdown file, for messages. */
  line: number;
}

export function docBlocks(markdown: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  let note: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const noted = /^<!-- doc-test: (.+?) -->$/.exec(lines[i]!);
    if (noted) {
      note = noted[1];
      continue;
    }
    const fence = /^```(\S*)/.exec(lines[i]!);
    if (!fence) {
      if (lines[i]!.trim() !== '') note = undefined;
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    blocks.push({ lang: fence[1] || 'text', body: body.join('\n'), ...(note && { note }), line: start + 1 });
    note = undefined;
  }
  return blocks;
}

export interface TranscriptStep {
  /** The command as typed (continuation lines joined). */
  command: string;
  /** What the transcript shows it printing. */
  output: string;
}

/** `$ command` lines (a trailing `\` continues on the next line) and the output lines under each. */
export function transcriptSteps(body: string): TranscriptStep[] {
  const steps: TranscriptStep[] = [];
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('$ ')) throw new Error(`transcript line without a command: ${lines[i]}`);
    let command = lines[i]!.slice(2);
    while (command.endsWith('\\') && i + 1 < lines.length)
      command = `${command.slice(0, -1)} ${lines[++i]!.trim()}`;
    const output: string[] = [];
    while (i + 1 < lines.length && !lines[i + 1]!.startsWith('$ ')) output.push(lines[++i]!);
    steps.push({ command, output: output.join('\n') });
  }
  return steps;
}

/** A Python block's expected output: the `# …` comment lines right after a line that prints. */
export function pythonOutput(body: string): string {
  const out: string[] = [];
  let printing = false;
  for (const line of body.split('\n')) {
    if (printing && line.startsWith('# ')) out.push(line.slice(2));
    else printing = /^\s*print\(/.test(line);
  }
  return out.join('\n');
}
