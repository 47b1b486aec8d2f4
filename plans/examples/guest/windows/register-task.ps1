#Requires -RunAsAdministrator
<#
.SYNOPSIS
Installs iclone-customize.ps1 in the golden VM and registers the scheduled
task that runs it, then starts it.

.DESCRIPTION
Run once in the source (golden) VM, as an administrator, from the folder that
holds both scripts:

  powershell.exe -NoProfile -ExecutionPolicy Bypass -File .\register-task.ps1

It copies iclone-customize.ps1 to %ProgramData%\iclone (writable by SYSTEM
and Administrators only: the task runs it as SYSTEM), creates the event log
source iclone-customize, and registers the task "iclone-customize":

  trigger    at startup (a clone restarted, or the golden VM itself)
  action     powershell.exe ... iclone-customize.ps1 -Watch
  runs as    SYSTEM, highest privileges, no time limit, restarted if it ends

The resume trigger is the -Watch loop itself: an instant clone does not
start, it resumes with the source's memory, so it resumes inside the running
loop, which sees guestinfo.iclone.name change under it within -PollSeconds.
Task Scheduler has no "instant clone resumed" event, and VMware Tools'
resume scripts run after a suspend, not after an instant clone. That is why
the task is started now: it must be running in the source when iclone-plan
clones it (keep the golden VM running, or freeze it after this).

.EXAMPLE
.\register-task.ps1 -PollSeconds 5
#>
[CmdletBinding()]
param(
    [string]$TaskName = 'iclone-customize',
    [string]$InstallDir = (Join-Path $env:ProgramData 'iclone'),
    [int]$PollSeconds = 2
)

$ErrorActionPreference = 'Stop'

$source = Join-Path $PSScriptRoot 'iclone-customize.ps1'
$script = Join-Path $InstallDir 'iclone-customize.ps1'
if (-not (Test-Path -LiteralPath $InstallDir)) {
    New-Item -ItemType Directory -Path $InstallDir -Force | Out-Null
}
# Only SYSTEM and Administrators may change what SYSTEM runs.
& icacls.exe $InstallDir /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null
if ($LASTEXITCODE -ne 0) { throw "icacls $InstallDir failed" }
if ((Resolve-Path -LiteralPath $source).Path -ne $script) {
    Copy-Item -LiteralPath $source -Destination $script -Force
}

if (-not [System.Diagnostics.EventLog]::SourceExists('iclone-customize')) {
    New-EventLog -LogName Application -Source 'iclone-customize'
}

$arguments = '-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{0}" -Watch -PollSeconds {1}' -f $script, $PollSeconds
$action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument $arguments
$trigger = New-ScheduledTaskTrigger -AtStartup
$principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) `
    -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) -StartWhenAvailable `
    -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew
Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Principal $principal `
    -Settings $settings -Force `
    -Description 'Instant clone identity from guestinfo (iclone-plan): see docs/guest-customization.md' | Out-Null

Start-ScheduledTask -TaskName $TaskName
Write-Output "Registered and started the scheduled task $TaskName ($script -Watch)."
Write-Output "Its log: $InstallDir\iclone-customize.log and the Application event log, source iclone-customize."
