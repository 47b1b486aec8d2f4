<#
.SYNOPSIS
Gives an instant clone of a Windows VM its own identity from guestinfo, then
sets guestinfo.iclone.ready.

.DESCRIPTION
An instant clone resumes with its source's memory: same computer name, same
IP. iclone-plan gives every clone guestinfo keys (the plan's guestinfo: map);
this script reads them with VMware Tools' rpctool.exe and applies them:

  guestinfo.hostname        computer name (at most 15 characters)
  guestinfo.domain          DNS suffix of the adapters that get DNS
  guestinfo.dns             DNS servers, comma-separated
  guestinfo.nic<N>.mac      MAC of adapter N: finds the network adapter
  guestinfo.nic<N>.ip       address/prefix (10.20.1.101/24), or dhcp
  guestinfo.nic<N>.gateway  default gateway (optional)

Then it sets guestinfo.iclone.ready to guestinfo.iclone.name, which is what
apply waits for with a ready: block (and, with connectAfterReady: true,
connects the clone's NICs only then). Windows applies a new computer name at
the next start: the script sets the addresses, renames, restarts the guest
(unless -NoRestart) and answers ready after the restart.

With -Watch it keeps running (register-task.ps1 starts it at startup as
SYSTEM): an instant clone does not start, it resumes inside this loop, which
notices within -PollSeconds that guestinfo.iclone.name has changed under it.

Every run is idempotent. It logs to %ProgramData%\iclone\iclone-customize.log
and to the Application event log (source iclone-customize, which
register-task.ps1 creates). See docs/guest-customization.md.

.EXAMPLE
powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\ProgramData\iclone\iclone-customize.ps1
Customize once, now.
#>
[CmdletBinding()]
param(
    [switch]$Watch,
    [int]$PollSeconds = 2,
    [int]$RetrySeconds = 30,
    [int]$MaxNics = 10,
    [switch]$NoRestart,
    [string]$RpcTool = (Join-Path $env:ProgramFiles 'VMware\VMware Tools\rpctool.exe'),
    [string]$StateDir = (Join-Path $env:ProgramData 'iclone')
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'
$EventSource = 'iclone-customize'

function Write-Log([string]$Message, [string]$Level = 'Information') {
    $line = '{0} {1}' -f (Get-Date -Format 'yyyy-MM-ddTHH:mm:ssK'), $Message
    Write-Verbose $line
    try {
        if (-not (Test-Path -LiteralPath $StateDir)) { New-Item -ItemType Directory -Path $StateDir -Force | Out-Null }
        Add-Content -LiteralPath (Join-Path $StateDir 'iclone-customize.log') -Value $line -Encoding UTF8
    } catch { }
    try {
        if ([System.Diagnostics.EventLog]::SourceExists($EventSource)) {
            Write-EventLog -LogName Application -Source $EventSource -EventId 1 -EntryType $Level -Message $Message
        }
    } catch { }
}

# Invoke-RpcTool runs one rpctool command. Windows PowerShell turns a native
# command's stderr into errors, which 'Stop' would throw: not here.
function Invoke-RpcTool([string]$Command) {
    $eap = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        $out = & $RpcTool $Command 2>$null
        $code = $LASTEXITCODE
    } finally {
        $ErrorActionPreference = $eap
    }
    New-Object PSObject -Property @{ Code = $code; Output = (($out | Out-String).Trim()) }
}

# Get-GuestInfo prints guestinfo.<Key>, or '' when it is not set.
function Get-GuestInfo([string]$Key) {
    $r = Invoke-RpcTool "info-get guestinfo.$Key"
    if ($r.Code -ne 0) { return '' }
    return $r.Output
}

function Set-GuestInfo([string]$Key, [string]$Value) {
    if ((Get-GuestInfo $Key) -ceq $Value) { return }
    $r = Invoke-RpcTool "info-set guestinfo.$Key $Value"
    if ($r.Code -ne 0) { throw "could not set guestinfo.${Key}: $($r.Output)" }
}

function Test-IPv4([string]$Text) {
    $ip = $null
    return ($Text -match '^\d{1,3}(\.\d{1,3}){3}$') -and [System.Net.IPAddress]::TryParse($Text, [ref]$ip)
}

function Get-ComputerNames {
    $base = 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName'
    New-Object PSObject -Property @{
        Active  = (Get-ItemProperty -Path "$base\ActiveComputerName").ComputerName
        Pending = (Get-ItemProperty -Path "$base\ComputerName").ComputerName
    }
}

# Set-Adapter applies one NIC's settings unless the state file says they are
# applied already (the address of a disconnected adapter is not always
# visible, so the file is the record).
function Set-Adapter($Nic, [string[]]$Dns, [string]$Domain) {
    $adapter = Get-NetAdapter | Where-Object { $_.MacAddress -eq $Nic.WinMac } | Select-Object -First 1
    if (-not $adapter) {
        throw "no network adapter has MAC $($Nic.Mac) (guestinfo.nic$($Nic.N).mac): does adapter $($Nic.N) of the plan exist on the source VM?"
    }
    $idx = $adapter.ifIndex
    $want = '{0}|{1}|{2}|{3}|{4}|{5}' -f $idx, $Nic.Mac, $Nic.Ip, $Nic.Gateway, ($Dns -join ','), $Domain
    $stateFile = Join-Path $StateDir ('nic{0}.applied' -f $Nic.N)
    if ((Test-Path -LiteralPath $stateFile) -and ((Get-Content -LiteralPath $stateFile -Raw).Trim() -ceq $want)) { return }

    Get-NetRoute -InterfaceIndex $idx -AddressFamily IPv4 -DestinationPrefix '0.0.0.0/0' -ErrorAction SilentlyContinue |
        Remove-NetRoute -Confirm:$false -ErrorAction SilentlyContinue
    Get-NetIPAddress -InterfaceIndex $idx -AddressFamily IPv4 -ErrorAction SilentlyContinue |
        Remove-NetIPAddress -Confirm:$false -ErrorAction SilentlyContinue
    if ($Nic.Ip -eq 'dhcp') {
        Set-NetIPInterface -InterfaceIndex $idx -AddressFamily IPv4 -Dhcp Enabled
        $what = 'dhcp'
    } else {
        Set-NetIPInterface -InterfaceIndex $idx -AddressFamily IPv4 -Dhcp Disabled
        $address, $prefix = $Nic.Ip -split '/'
        $params = @{ InterfaceIndex = $idx; AddressFamily = 'IPv4'; IPAddress = $address; PrefixLength = [int]$prefix }
        if ($Nic.Gateway) { $params.DefaultGateway = $Nic.Gateway }
        New-NetIPAddress @params | Out-Null
        $what = $Nic.Ip
        if ($Nic.Gateway) { $what += " via $($Nic.Gateway)" }
    }
    if ($Nic.TakesDns -and $Dns.Count -gt 0) {
        Set-DnsClientServerAddress -InterfaceIndex $idx -ServerAddresses $Dns
        $what += ", DNS $($Dns -join ' ')"
    } else {
        Set-DnsClientServerAddress -InterfaceIndex $idx -ResetServerAddresses
    }
    if ($Nic.TakesDns -and $Domain) {
        Set-DnsClient -InterfaceIndex $idx -ConnectionSpecificSuffix $Domain
    }
    Set-Content -LiteralPath $stateFile -Value $want -Encoding ASCII
    Write-Log "adapter $($Nic.N) ($($adapter.Name), $($Nic.Mac)): $what"
}

# Invoke-Customize applies the clone's guestinfo and sets the ready key; it
# throws on the first error.
function Invoke-Customize {
    $name = Get-GuestInfo 'iclone.name'
    $hostName = Get-GuestInfo 'hostname'
    $domain = Get-GuestInfo 'domain'
    $dns = @((Get-GuestInfo 'dns') -split '[,\s]+' | Where-Object { $_ })
    if (-not $name -and -not $hostName) {
        Write-Log 'no guestinfo.iclone.name or guestinfo.hostname: not a clone, nothing to do'
        return
    }
    foreach ($server in $dns) {
        if (-not (Test-IPv4 $server)) { throw "guestinfo.dns has `"$server`", not an IPv4 address" }
    }
    if ($domain -and $domain -notmatch '^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$') {
        throw "guestinfo.domain is `"$domain`", not a DNS domain"
    }

    $nics = @()
    for ($n = 1; $n -le $MaxNics; $n++) {
        $mac = (Get-GuestInfo "nic$n.mac").ToLowerInvariant()
        if (-not $mac) { continue }
        if ($mac -notmatch '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$') { throw "guestinfo.nic$n.mac is `"$mac`", not a MAC address" }
        $ip = (Get-GuestInfo "nic$n.ip").ToLowerInvariant()
        if (-not $ip) {
            Write-Log "nic$n ($mac): no guestinfo.nic$n.ip; its configuration is left as it is"
            continue
        }
        if ($ip -ne 'dhcp') {
            $parts = $ip -split '/'
            if ($parts.Count -ne 2 -or -not (Test-IPv4 $parts[0]) -or $parts[1] -notmatch '^\d{1,2}$' -or [int]$parts[1] -gt 32) {
                throw "guestinfo.nic$n.ip is `"$ip`"; use address/prefix (10.20.1.101/24) or dhcp"
            }
        }
        $gw = Get-GuestInfo "nic$n.gateway"
        if ($gw -and -not (Test-IPv4 $gw)) { throw "guestinfo.nic$n.gateway is `"$gw`", not an IPv4 address" }
        $nics += New-Object PSObject -Property @{
            N = $n; Mac = $mac; WinMac = ($mac.ToUpperInvariant() -replace ':', '-'); Ip = $ip; Gateway = $gw; TakesDns = $false
        }
    }
    # DNS goes to the adapters with a gateway, or the first one if none has.
    $withGateway = @($nics | Where-Object { $_.Gateway })
    if ($withGateway.Count -gt 0) { $withGateway | ForEach-Object { $_.TakesDns = $true } }
    elseif ($nics.Count -gt 0) { $nics[0].TakesDns = $true }

    # Addresses first: they take effect now, the name only after a restart.
    foreach ($nic in $nics) { Set-Adapter $nic $dns $domain }

    if ($hostName) {
        if ($hostName -notmatch '^[A-Za-z0-9-]{1,15}$' -or $hostName -match '^\d+$') {
            throw "guestinfo.hostname is `"$hostName`"; a computer name has at most 15 letters, digits and -, not only digits"
        }
        $names = Get-ComputerNames
        if ($names.Active -ne $hostName) {
            if ($names.Pending -ne $hostName) {
                Rename-Computer -NewName $hostName -Force -WarningAction SilentlyContinue
                Write-Log "computer name: $($names.Active) -> $hostName (at the restart)"
            }
            Set-GuestInfo 'iclone.status' 'restarting to apply the computer name'
            if ($NoRestart) {
                Write-Log 'restart the guest to apply the computer name (-NoRestart); not ready until then' 'Warning'
                return
            }
            Write-Log 'restarting to apply the computer name; ready after the restart'
            Restart-Computer -Force
            exit 0
        }
    }

    if ($name -and (Get-GuestInfo 'iclone.ready') -cne $name) {
        Set-GuestInfo 'iclone.ready' $name
        Write-Log "ready: guestinfo.iclone.ready=$name"
    }
    Set-GuestInfo 'iclone.status' 'ready'
}

function Invoke-Guarded {
    try {
        Invoke-Customize
        return $true
    } catch {
        $msg = $_.Exception.Message
        Write-Log "error: $msg" 'Error'
        try { Set-GuestInfo 'iclone.status' "error: $msg" } catch { }
        return $false
    }
}

if (-not (Test-Path -LiteralPath $RpcTool)) {
    Write-Log "error: $RpcTool not found: install VMware Tools" 'Error'
    exit 1
}

if (-not $Watch) {
    if (Invoke-Guarded) { exit 0 } else { exit 1 }
}

$last = ''
while ($true) {
    $id = Get-GuestInfo 'iclone.name'
    if (-not $id) { $id = Get-GuestInfo 'hostname' }
    if ($id -and $id -cne $last) {
        if (Invoke-Guarded) {
            $last = $id
        } else {
            Write-Log "customization failed; retrying in ${RetrySeconds}s" 'Warning'
            Start-Sleep -Seconds $RetrySeconds
        }
    }
    Start-Sleep -Seconds $PollSeconds
}
