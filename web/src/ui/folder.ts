/** Model folders the user drops or picks: their files by name (only the top level of the folder). */

export interface PickedFolder {
  name: string;
  files: Record<string, File>;
}

/** Files from an <input type=file webkitdirectory|multiple>: grouped by the first folder of their path. */
export function folderFromFileList(list: FileList | File[]): PickedFolder {
  const files: Record<string, File> = {};
  let name = '';
  for (const file of Array.from(list)) {
    const path = (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name;
    const parts = path.split('/');
    if (!name) name = parts.length > 1 ? parts[0] : 'dropped files';
    // Only the folder's own files (not sub-folders such as checkpoints/...).
    if (parts.length <= 2) files[file.name] = file;
  }
  return { name: name || 'dropped files', files };
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => {
    const all: FileSystemEntry[] = [];
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(all);
        else {
          all.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

const entryFile = (entry: FileSystemFileEntry) =>
  new Promise<File>((resolve, reject) => entry.file(resolve, reject));

/** A drop of one folder (or of the loose files of a model folder). */
export async function folderFromDrop(data: DataTransfer): Promise<PickedFolder> {
  const entries = Array.from(data.items)
    .map((item) => item.webkitGetAsEntry?.())
    .filter((e): e is FileSystemEntry => Boolean(e));
  const dir = entries.find((e) => e.isDirectory) as FileSystemDirectoryEntry | undefined;
  if (dir) {
    const files: Record<string, File> = {};
    for (const entry of await readEntries(dir.createReader()))
      if (entry.isFile) files[entry.name] = await entryFile(entry as FileSystemFileEntry);
    return { name: dir.name, files };
  }
  return folderFromFileList(Array.from(data.files));
}
