package io.canaryproxy.staticfiles;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.Map;

/**
 * One {@code stat} of a file (symbolic links followed): what tells a cached entry from the file on disk now.
 *
 * @param changed the inode's change time ({@code ctime}), or {@code null} where the file system does not say.
 *                Size, modification time and inode all survive a deploy that deletes a file and extracts one of
 *                the same size and preserved time ({@code tar -x}, {@code cp -p}, {@code unzip -o}): the inode
 *                number is free again and often reused. The change time cannot be set back, so it differs.
 */
record FileStat(boolean regular, long size, FileTime modified, FileTime changed, Object fileKey) {

    private static final boolean UNIX = FileSystems.getDefault().supportedFileAttributeViews().contains("unix");
    private static final String UNIX_ATTRIBUTES = "unix:isRegularFile,size,lastModifiedTime,ctime,fileKey";

    static FileStat of(Path file) throws IOException {
        if (UNIX) {
            Map<String, Object> a = Files.readAttributes(file, UNIX_ATTRIBUTES);
            return new FileStat((Boolean) a.get("isRegularFile"), (Long) a.get("size"),
                    (FileTime) a.get("lastModifiedTime"), (FileTime) a.get("ctime"), a.get("fileKey"));
        }
        BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
        return new FileStat(a.isRegularFile(), a.size(), a.lastModifiedTime(), null, a.fileKey());
    }
}
