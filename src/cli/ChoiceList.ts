import type { PipelineCatalog } from "../app/PipelineCatalog.ts"

/**
 * What `--help` shows of a command's choices: a titled list under the description, one line each,
 * names aligned. (The help formatter prints the description's first line indented by two spaces and
 * the following lines as they are, so the list carries its own indentation.)
 */
export const describeWithChoices = (
  description: string,
  title: string,
  choices: ReadonlyArray<readonly [name: string, line: string]>
): string => {
  const width = Math.max(...choices.map(([name]) => name.length)) + 3
  return [
    description,
    "",
    `  ${title}`,
    ...choices.map(([name, line]) => `    ${name.padEnd(width)}${line}`)
  ].join("\n")
}

/** One line per pipeline: its name and description. */
export const pipelineChoices = (catalog: PipelineCatalog) =>
  catalog.pipelines.map((p) => [p.name, p.description] as const)

/** One line per simulator input: the input's name (a pipeline's name works too) and what it feeds. */
export const inputChoices = (catalog: PipelineCatalog) =>
  catalog.pipelines.map((p) =>
    [p.input === p.name ? p.input : `${p.input} (or ${p.name})`, `input of ${p.name}: ${p.description}`] as const
  )
