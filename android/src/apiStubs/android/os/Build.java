package android.os; public class Build { public static class VERSION { public static final int SDK_INT = 26; } public static class VERSION_CODES { public static final int S = 31; } }
