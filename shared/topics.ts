/** Pub/Sub topic names as the config writes them: a short name lives in the function's project. */

/** The full name of a topic: `projects/P/topics/T` as written, else `T` in `project`. */
export function topicName(topic: string, project: string): string {
  return topic.startsWith('projects/')
    ? topic
    : `projects/${project}/topics/${topic}`;
}
